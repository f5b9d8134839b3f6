// The SDK warns about Node 20 on every client: jest runs on Lambda's Node (npm test), but the
// processes it starts on the user's Node (20 here: the CLI, the connector) inherit this.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.LOG_LEVEL ??= 'silent';
// TypeScript processes the tests start: see local/daemons.ts (tsx's cache and other checkouts).
process.env.TSX_DISABLE_CACHE ??= '1';
