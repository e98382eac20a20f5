import type { Broker } from 'turbo-express';

/** The in-process broker unless BROKER says otherwise. */
export async function brokerFromEnvironment(): Promise<Broker | undefined> {
  return undefined;
}
