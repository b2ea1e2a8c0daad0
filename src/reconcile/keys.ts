// Resources are named by kind and name everywhere (slices, inventories, queues, statuses, rows):
// a container `web` and a balancer `web` never meet.

export function resourceKey(kind: string, name: string): string {
  return `${kind}/${name}`;
}

export function splitResourceKey(key: string): { kind: string; name: string } {
  const slash = key.indexOf("/");
  return slash < 0 ? { kind: "", name: key } : { kind: key.slice(0, slash), name: key.slice(slash + 1) };
}
