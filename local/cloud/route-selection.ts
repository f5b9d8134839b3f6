/**
 * API Gateway's route selection for a WebSocket message ("Working with routes for WebSocket APIs"):
 * the API's route selection expression, `$request.body.<path>`, is evaluated on a JSON text
 * message; a value that names a route selects it, anything else (binary frames, non-JSON text, a
 * missing or unknown value) goes to `$default`.
 * @throws Error for an expression other than `$request.body.<path>` (the only kind our stack uses).
 */
export function selectRoute(expression: string, body: string | undefined, routeKeys: ReadonlySet<string>): string {
  const match = /^\$request\.body\.([A-Za-z0-9_.]+)$/.exec(expression);
  if (!match)
    throw new Error(`the local gateway understands route selection expressions of the form $request.body.<path>, not "${expression}"`);
  if (body === undefined) return '$default';
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return '$default';
  }
  for (const part of match[1]!.split('.'))
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  return typeof value === 'string' && !value.startsWith('$') && routeKeys.has(value) ? value : '$default';
}
