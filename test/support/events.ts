// Picking apply events out of what a run emitted.
import type { ApplyEvent } from '../../src/apply/events.js';

export function ofType<T extends ApplyEvent['type']>(
  events: readonly ApplyEvent[],
  type: T,
): Extract<ApplyEvent, { type: T }>[] {
  return events.filter((event): event is Extract<ApplyEvent, { type: T }> => event.type === type);
}

export const at = (event: { readonly time: string } | undefined) => Date.parse(event!.time);
