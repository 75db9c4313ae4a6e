/** Fake of Moddable's `Resource`: the tests embed no resources. */
export default class Resource {
  constructor(path: string) {
    throw new Error(`Resource fake: no resource ${path}`);
  }
}
