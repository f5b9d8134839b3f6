// Files on disk as backup and restore both see them: exact names (bytes ↔ lossless strings),
// exact times (and what libuv can write), read-only and hidden attributes. Pure or thin over
// node:fs and two Windows programs (cmd, attrib); imports neither backup/ nor restore/.
export * from './file-attributes';
export * from './file-names';
export * from './file-times';
