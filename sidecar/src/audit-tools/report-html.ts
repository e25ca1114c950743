// The report as one self-contained HTML file: inline CSS, inline script, charts drawn as SVG by
// that script, the data as JSON in a <script type="application/json"> element. Nothing is fetched
// (no CDN, no fonts, no network): it opens from a file, offline, and prints. Log content is only
// ever put into the page as text (textContent), never as markup. The explorer filters all rows in
// memory and renders one page of 100, so 100k exchanges stay responsive.
import type { ReportModel } from './report-model.ts';

/** JSON that cannot close the <script> element it sits in. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
:root{--fg:#1d2430;--muted:#5b6577;--line:#d9dee7;--bg:#f6f7f9;--card:#fff;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700;--accent:#2f5fd0}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:20px 28px;background:#1d2430;color:#fff}header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#c6cbd6}
main{padding:20px 28px;max-width:1400px}section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin:0 0 18px}
h2{font-size:16px;margin:0 0 12px}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:#fbfcfd}.card .v{font-size:22px;font-weight:600}.card .k{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}th{font-size:12px;color:var(--muted);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}.muted{color:var(--muted)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px}.bar{height:8px;background:var(--accent);border-radius:2px;display:inline-block;vertical-align:middle}
.controls{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:10px}.controls input,.controls select,button{font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:6px;background:#fff}
#explorer-table tbody tr{cursor:pointer}#explorer-table tbody tr:hover{background:#eef3ff}#explorer-table tbody tr.sel{background:#dfe8ff}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}pre{background:#f3f5f8;border:1px solid var(--line);border-radius:6px;padding:8px;overflow:auto;max-height:420px;white-space:pre-wrap;word-break:break-word}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0 0 10px}dt{color:var(--muted)}dd{margin:0;word-break:break-all}svg text{font-size:10px;fill:var(--muted)}
@media print{header{background:#fff;color:#000;border-bottom:2px solid #000}header p{color:#333}.controls,#pager,#detail{display:none}section{break-inside:avoid;border:none;padding:0}body{background:#fff}}
`;

// Plain JavaScript for the browser (no template literals: this file embeds it in one).
const CLIENT = String.raw`
(function(){
'use strict';
var D=JSON.parse(document.getElementById('report-data').textContent);
var S=D.dict;
function el(tag,attrs,kids){var e=document.createElement(tag);if(attrs)for(var k in attrs){if(k==='text')e.textContent=attrs[k];else if(k==='cls')e.className=attrs[k];else e.setAttribute(k,attrs[k]);}
(kids||[]).forEach(function(c){if(c!=null)e.appendChild(typeof c==='string'?document.createTextNode(c):c);});return e;}
function fmt(n){return n==null?'-':Number(n).toLocaleString('en-US');}
function usd(n){return n==null?'-':'$'+Number(n).toFixed(4);}
function iso(ms){return new Date(ms).toISOString().replace('T',' ').replace(/\.\d+Z$/,'Z');}
function clear(e){while(e.firstChild)e.removeChild(e.firstChild);}
// Summary
var T=D.totals;
var intact=D.chains.filter(function(c){return c.status==='intact';}).length;
var cards=[['n-exchanges','exchanges',fmt(T.exchanges)],['n-errors','errors',fmt(T.errors)],['n-input','input tokens',fmt(T.inputTokens)],['n-output','output tokens',fmt(T.outputTokens)],['n-cost','cost (USD)',T.costUsd==null?'not recorded':usd(T.costUsd)],['n-conversations','conversations',fmt(T.conversations)],['n-tools','tool calls',fmt(T.toolCalls)],['n-chains','chains intact',intact+' / '+D.chains.length]];if(T.records>0)cards.push(['n-records','erasure records',fmt(T.records)]);
var cw=document.getElementById('cards');cards.forEach(function(c){cw.appendChild(el('div',{cls:'card'},[el('div',{cls:'v',id:c[0],text:c[2]}),el('div',{cls:'k',text:c[1]})]));});
// Verification
var vt=document.querySelector('#verification tbody');
D.chains.forEach(function(c){var st=c.status==='intact'?el('span',{cls:'ok',text:'intact'}):c.status==='failed'?el('span',{cls:'bad',text:'failed (exit '+c.exit+' '+c.code+'): '+c.message}):el('span',{cls:'muted',text:'not verified (no key given)'});
var cp=c.checkpoint?('size '+fmt(c.checkpoint.size)+(c.checkpoint.writtenAt?' @ '+c.checkpoint.writtenAt:'')):'none';
var w=c.witnessed.length?c.witnessed.map(function(x){return x.name+' @ '+new Date(x.timestamp*1000).toISOString();}).join(', '):'no';
vt.appendChild(el('tr',{'data-chain':c.path},[el('td',{text:c.path}),el('td',{text:c.origin||'-'}),el('td',{text:c.kind}),el('td',{cls:'n',text:fmt(c.entries)}),el('td',null,[st]),el('td',{text:cp}),el('td',{text:w})]));});
// Timeline
(function(){var t=D.timeline,svg=document.getElementById('timeline');if(!t.counts.length){svg.parentNode.appendChild(el('p',{cls:'muted',text:'no exchanges'}));return;}
var W=900,H=160,P=28,max=Math.max.apply(null,t.counts.concat([1])),bw=(W-P)/t.counts.length;svg.setAttribute('viewBox','0 0 '+W+' '+(H+20));var NS='http://www.w3.org/2000/svg';
function r(x,y,w,h,c,title){var e=document.createElementNS(NS,'rect');e.setAttribute('x',x);e.setAttribute('y',y);e.setAttribute('width',Math.max(1,w));e.setAttribute('height',h);e.setAttribute('fill',c);var ti=document.createElementNS(NS,'title');ti.textContent=title;e.appendChild(ti);svg.appendChild(e);}
function tx(x,y,s,a){var e=document.createElementNS(NS,'text');e.setAttribute('x',x);e.setAttribute('y',y);if(a)e.setAttribute('text-anchor',a);e.textContent=s;svg.appendChild(e);}
t.counts.forEach(function(n,i){var h=n/max*(H-10),eh=t.errors[i]/max*(H-10),x=P+i*bw;var when=iso(t.start+i*t.bucketMs);r(x,H-h,bw-1,h,'#2f5fd0',when+': '+n+' exchanges, '+t.errors[i]+' errors');if(eh>0)r(x,H-eh,bw-1,eh,'#c62828',when+': '+t.errors[i]+' errors');});
tx(0,12,fmt(max));tx(0,H,'0');tx(P,H+14,iso(t.start));tx(W,H+14,iso(t.start+t.counts.length*t.bucketMs),'end');
document.getElementById('timeline-note').textContent='one bar per '+(t.bucketMs>=86400000?(t.bucketMs/86400000)+' d':t.bucketMs>=3600000?(t.bucketMs/3600000)+' h':(t.bucketMs/60000)+' min')+'; red: errors';})();
// Breakdowns
function breakdown(id,list){var tb=document.querySelector('#'+id+' tbody'),max=Math.max.apply(null,list.map(function(b){return b.count;}).concat([1]));
list.slice(0,30).forEach(function(b){tb.appendChild(el('tr',null,[el('td',{text:b.key}),el('td',{cls:'n'},[el('span',{cls:'bar',style:'width:'+Math.round(b.count/max*80)+'px'}),' '+fmt(b.count)]),el('td',{cls:'n',text:fmt(b.errors)}),el('td',{cls:'n',text:fmt(b.inputTokens)}),el('td',{cls:'n',text:fmt(b.outputTokens)}),el('td',{cls:'n',text:T.costUsd==null?'-':usd(b.costUsd)}),el('td',{cls:'n',text:fmt(Math.round(b.totalMs/b.count))})]));});}
breakdown('by-model',D.byModel);breakdown('by-workload',D.byWorkload);breakdown('by-endpoint',D.byEndpoint);breakdown('by-span',D.bySpanType);breakdown('by-decision',D.byDecision);
// Rows: [chain, seq, ts, model, endpoint, api, span, status, ms, in, out, trace, hash, conv, error, reqline, tools, decision]
var R=D.rows;
function chainName(i){return D.chains[i]?D.chains[i].path:'?';}
function rowCells(r,i){return [el('td',{text:iso(r[2])}),el('td',{text:chainName(r[0])}),el('td',{cls:'n',text:String(r[1])}),el('td',{text:S[r[3]]}),el('td',{text:S[r[6]]}),el('td',{cls:r[7]>=400||r[7]===0?'n bad':'n',text:String(r[7])}),el('td',{cls:'n',text:fmt(Math.round(r[8]))}),el('td',{cls:'n',text:fmt(r[9])+' / '+fmt(r[10])}),el('td',{text:S[r[15]]}),el('td',{text:S[r[16]]||S[r[14]]})];}
function listTable(id,idx){var tb=document.querySelector('#'+id+' tbody');idx.forEach(function(i){var tr=el('tr',{'data-row':i},rowCells(R[i],i));tr.addEventListener('click',function(){show(i);});tb.appendChild(tr);});}
var order=R.map(function(_,i){return i;});
var errs=order.filter(function(i){return S[R[i][14]]!=='';}).sort(function(a,b){return R[b][2]-R[a][2];}).slice(0,50);
listTable('errors-table',errs);if(!errs.length)document.getElementById('errors-table').replaceWith(el('p',{cls:'muted',text:'no errors'}));
listTable('slowest-table',order.slice().sort(function(a,b){return R[b][8]-R[a][8];}).slice(0,20));
// Explorer
var q=document.getElementById('q'),fm=document.getElementById('f-model'),fs=document.getElementById('f-span'),fst=document.getElementById('f-status'),fc=document.getElementById('f-chain');
function opts(sel,values){values.forEach(function(v){sel.appendChild(el('option',{value:v[0],text:v[1]}));});}
opts(fm,D.byModel.map(function(b){return [b.key,b.key+' ('+b.count+')'];}));opts(fs,D.bySpanType.map(function(b){return [b.key,b.key+' ('+b.count+')'];}));opts(fc,D.chains.map(function(c,i){return [String(i),c.path];}));
var PAGE=100,page=0,hits=order,HAY=new Array(R.length);
// Search text per row, built on first use and kept: one lower-cased string per row.
function hay(i){var h=HAY[i];if(h===undefined){var r=R[i];h=HAY[i]=(S[r[3]]+' '+S[r[15]]+' '+S[r[11]]+' '+S[r[12]]+' '+S[r[13]]+' '+S[r[16]]+' '+S[r[14]]+' '+S[r[6]]+' #'+r[1]).toLowerCase();}return h;}
function apply(){var text=q.value.trim().toLowerCase(),m=fm.value,sp=fs.value,st=fst.value,ch=fc.value;
hits=order.filter(function(i){var r=R[i];if(m&&S[r[3]]!==m)return false;if(sp&&S[r[6]]!==sp)return false;if(ch&&String(r[0])!==ch)return false;
if(st==='errors'&&S[r[14]]==='')return false;if(st==='ok'&&S[r[14]]!=='')return false;if(st==='4xx'&&!(r[7]>=400&&r[7]<500))return false;if(st==='5xx'&&!(r[7]>=500))return false;
if(text&&hay(i).indexOf(text)<0)return false;return true;});
page=0;render();}
function render(){var tb=document.querySelector('#explorer-table tbody');clear(tb);var from=page*PAGE;hits.slice(from,from+PAGE).forEach(function(i){var tr=el('tr',{'data-row':i},rowCells(R[i],i));tr.addEventListener('click',function(){show(i);});tb.appendChild(tr);});
document.getElementById('explorer-count').textContent=fmt(hits.length)+' of '+fmt(R.length)+' exchanges';document.getElementById('page').textContent='page '+(hits.length?page+1:0)+' / '+Math.ceil(hits.length/PAGE);
document.getElementById('prev').disabled=page===0;document.getElementById('next').disabled=from+PAGE>=hits.length;}
var typing=null;q.addEventListener('input',function(){clearTimeout(typing);typing=setTimeout(apply,R.length>20000?150:0);});[fm,fs,fst,fc].forEach(function(e){e.addEventListener('change',apply);});
document.getElementById('prev').addEventListener('click',function(){if(page>0){page--;render();}});document.getElementById('next').addEventListener('click',function(){if((page+1)*PAGE<hits.length){page++;render();}});
// Drill-down
function proofStatus(r){var c=D.chains[r[0]];if(!c)return'-';if(c.status==='not verified')return'not verified: no verifier key was given to the report';if(c.status==='failed')return'chain failed verification: '+c.message;
if(c.kind==='partial')return'inclusion proof verified against the signed checkpoint of size '+fmt(c.checkpoint.size);
if(c.checkpoint&&r[1]<c.checkpoint.size)return'included in the signed tree of size '+fmt(c.checkpoint.size)+' (root '+c.checkpoint.rootHash+'): the verifier recomputed that root from every entry';
return'after the newest checkpoint: hash-chained and signed, not yet in a signed tree';}
function show(i){var r=R[i],d=document.getElementById('detail');clear(d);document.querySelectorAll('tr.sel').forEach(function(t){t.classList.remove('sel');});document.querySelectorAll('tr[data-row="'+i+'"]').forEach(function(t){t.classList.add('sel');});
var e=D.details[i]?JSON.parse(D.details[i]):null;d.appendChild(el('h2',{text:'Exchange #'+r[1]+' of '+chainName(r[0])}));
var dl=el('dl');function kv(k,v,id){dl.appendChild(el('dt',{text:k}));dl.appendChild(el('dd',id?{text:v,id:id}:{text:v}));}
kv('time',iso(r[2]));kv('request',S[r[15]]);kv('model',S[r[3]]);kv('status',String(r[7])+(S[r[14]]?' ('+S[r[14]]+')':''));kv('span type',S[r[6]]);kv('trace id',S[r[11]],'detail-trace');kv('conversation',S[r[13]]||'-');kv('hash',S[r[12]],'detail-hash');kv('inclusion proof',proofStatus(r),'detail-proof');
if(e){kv('id',e.id);kv('prevHash',e.prevHash);kv('signature',e.sig?'present (Ed25519)':'none');kv('duration',fmt(e.response&&e.response.durationMs)+' ms');}
d.appendChild(dl);
if(!e){d.appendChild(el('p',{cls:'muted',text:'The bodies of this exchange are not embedded (the report keeps at most '+fmt(D.detailBudget.totalBytes)+' bytes of bodies); read the entry from the log: llmaudit prove DIR --seq '+r[1]}));d.scrollIntoView();return;}
var calls=(e.trace&&e.trace.toolCalls)||[],results=(e.trace&&e.trace.toolResults)||[];
if(calls.length||results.length){d.appendChild(el('h3',{text:'Tool calls'}));d.appendChild(el('pre',{id:'detail-tools',text:JSON.stringify({toolCalls:calls,toolResults:results},null,2)}));}
d.appendChild(el('h3',{text:'Request'}));d.appendChild(el('pre',{id:'detail-request',text:JSON.stringify(e.request,null,2)}));
d.appendChild(el('h3',{text:'Response'}));d.appendChild(el('pre',{id:'detail-response',text:JSON.stringify(e.response,null,2)}));
d.scrollIntoView();}
window.llmauditReport={show:show,apply:apply};
apply();
document.body.setAttribute('data-ready','1');
})();
`;

const BREAKDOWN_HEAD = '<thead><tr><th></th><th class="n">exchanges</th><th class="n">errors</th><th class="n">input tokens</th><th class="n">output tokens</th><th class="n">cost</th><th class="n">avg ms</th></tr></thead><tbody></tbody>';
const ROWS_HEAD = '<thead><tr><th>time (UTC)</th><th>chain</th><th class="n">seq</th><th>model</th><th>span type</th><th class="n">status</th><th class="n">ms</th><th class="n">tokens in / out</th><th>request</th><th>tool calls / error</th></tr></thead><tbody></tbody>';

export function renderReportHtml(m: ReportModel): string {
  const period = m.totals.firstTs === null ? 'no exchanges' : `${m.totals.firstTs} – ${m.totals.lastTs}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(m.title)}</title><style>${CSS}</style></head>
<body>
<header><h1>${escapeHtml(m.title)}</h1><p>${escapeHtml(m.source)} · ${escapeHtml(period)} · generated ${escapeHtml(m.generatedAt)} by llmaudit ${escapeHtml(m.toolVersion)}</p></header>
<main>
<section><h2>Summary</h2><div class="cards" id="cards"></div></section>
<section><h2>Verification per chain</h2><table id="verification"><thead><tr><th>chain</th><th>origin</th><th>kind</th><th class="n">entries</th><th>status</th><th>newest checkpoint</th><th>witnessed</th></tr></thead><tbody></tbody></table></section>
<section><h2>Exchanges over time</h2><svg id="timeline" width="100%" height="190" role="img" aria-label="exchanges over time"></svg><p class="muted" id="timeline-note"></p></section>
<div class="grid2">
<section><h2>By model</h2><table id="by-model">${BREAKDOWN_HEAD}</table></section>
<section><h2>By workload</h2><table id="by-workload">${BREAKDOWN_HEAD}</table></section>
<section><h2>By endpoint</h2><table id="by-endpoint">${BREAKDOWN_HEAD}</table></section>
<section><h2>By span type</h2><table id="by-span">${BREAKDOWN_HEAD}</table></section>
<section><h2>Policy decisions</h2><table id="by-decision">${BREAKDOWN_HEAD}</table></section>
</div>
<section><h2>Errors (newest 50)</h2><table id="errors-table">${ROWS_HEAD}</table></section>
<section><h2>Slowest exchanges</h2><table id="slowest-table">${ROWS_HEAD}</table></section>
<section><h2>Explorer</h2>
<div class="controls"><input id="q" type="search" placeholder="search model, path, trace id, hash, conversation, tool…" size="40">
<select id="f-model"><option value="">all models</option></select><select id="f-span"><option value="">all span types</option></select>
<select id="f-status"><option value="">any status</option><option value="ok">successful</option><option value="errors">errors</option><option value="4xx">4xx</option><option value="5xx">5xx</option></select>
<select id="f-chain"><option value="">all chains</option></select><span id="explorer-count" class="muted"></span></div>
<table id="explorer-table">${ROWS_HEAD}</table>
<p id="pager"><button id="prev">previous</button> <span id="page"></span> <button id="next">next</button></p>
</section>
<section id="detail"><p class="muted">Click an exchange to see its request, response, tool calls, trace id, hash and inclusion-proof status.</p></section>
</main>
<script type="application/json" id="report-data">${scriptJson(m)}</script>
<script>${CLIENT}</script>
</body></html>
`;
}
