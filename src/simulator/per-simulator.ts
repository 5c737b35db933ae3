/**
 * State one simulator keeps beside its core (the Batch API's files, the webhook sender): `make` runs once per core,
 * on first use. @returns the getter of that state.
 */
export function perSimulator<T>(make: () => T): (core: object) => T {
  const states = new WeakMap<object, T>();
  return (core) => {
    let state = states.get(core);
    if (state === undefined) {
      state = make();
      states.set(core, state);
    }
    return state;
  };
}
