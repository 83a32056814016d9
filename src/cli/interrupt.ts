// How a changing command is interrupted. The first SIGINT or SIGTERM stops new work and gives the
// requests in flight a few seconds to be answered, so that their answers are recorded; a second
// signal, or the end of that grace, abandons them. An abandoned import is settled by its attempt tag
// next time, as after a crash, so one SIGTERM from a supervisor (systemd, Kubernetes, `timeout`)
// ends the process within seconds, its state saved.

/** How long requests in flight may still be answered after the first signal. */
export const ANSWER_GRACE_MS = 5_000;

export interface Interruption {
  /** Aborted by the first signal: send nothing new, stop waiting. */
  readonly stop: AbortSignal;
  /** Aborted by a second signal or at the end of the grace: cut off what is in flight. */
  readonly abort: AbortSignal;
  /** Stops listening for the signals. */
  readonly dispose: () => void;
}

export function listenForInterrupts(graceMs = ANSWER_GRACE_MS): Interruption {
  const stop = new AbortController();
  const abort = new AbortController();
  let grace: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) return abort.abort(signal);
    stop.abort(signal);
    // Unreferenced: a command that finishes within the grace exits without waiting for it.
    grace = setTimeout(() => abort.abort(signal), graceMs).unref();
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  return {
    stop: stop.signal,
    abort: abort.signal,
    dispose: () => {
      clearTimeout(grace);
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    },
  };
}
