/** `host:port` (or `[v6]:port`) split into its parts, the host without brackets. */
export function splitHostPort(hostPort: string): { host: string; port: number } {
  const separator = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, separator).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(separator + 1)) };
}
