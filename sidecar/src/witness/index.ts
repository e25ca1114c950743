// The C2SP tlog-witness client side: the add-checkpoint wire format (shared with the operator's
// witness) and the pusher that sends every new checkpoint to the witness. Named exports only.
export { MAX_PROOF_LINES, MalformedRequest, TLOG_SIZE_CONTENT_TYPE, formatAddCheckpoint, parseAddCheckpoint, parseSizeBody } from './add-checkpoint.ts';
export type { AddCheckpointRequest } from './add-checkpoint.ts';
export { WitnessPusher, mergeSignatures } from './pusher.ts';
export type { PushFailureReason, PusherLogView, WitnessPusherOptions } from './pusher.ts';
