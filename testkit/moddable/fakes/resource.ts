/** Fake of Moddable's `Resource`: read-only bytes the test defines before the app runs. */
const resources = new Map<string, ArrayBuffer>();

/** Makes `bytes` the resource at `path`, as a manifest's `resources` section would. */
export function defineResource(path: string, bytes: ArrayBuffer): void {
  resources.set(path, bytes.slice(0));
}

export default class Resource {
  constructor(path: string) {
    const bytes = resources.get(path);
    if (!bytes) throw new Error(`Resource: no resource ${path}`);
    // A device hands out a HostBuffer over flash; a copy keeps the defined bytes unchanged.
    return bytes.slice(0);
  }
}
