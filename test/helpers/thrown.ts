// What a call threw (undefined if it returned), for tests that look at an error's fields one by one.
export function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}
