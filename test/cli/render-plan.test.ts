// The plan for people, where what the state and the cloud said is shown: on one printable line.
import { describe, expect, it } from 'vitest';
import { renderPlan } from '../../src/cli/render-plan.js';
import { planChanges } from '../../src/plan/plan.js';
import { manifest, systemSpec } from '../support/specs.js';
import { emptyState, failed, imported } from '../support/states.js';
import { fakeOutput } from '../support/fake-output.js';

/** Text as a broken or hostile answer may word it: a title change, a screen clear, a forged line. */
const HOSTILE = '\u001b]0;owned\u0007\u001b[2Jdisk\n  + forged will be imported \u009b31mred\u001b[0m';

describe('renderPlan', () => {
  it('shows recorded reasons, ids and what the refresh found on printable lines, their escapes gone', () => {
    let state = failed(emptyState(), 'web', systemSpec('web'), { code: 'IMG.0057', reason: HOSTILE });
    state = imported(state, 'old', systemSpec('old'), undefined, `img${HOSTILE}`);
    const plan = planChanges([manifest('web')], state, {
      refresh: {
        changes: new Map(),
        drift: new Map([['web', { kind: 'deleted', imageId: `gone${HOSTILE}` }]]),
        unadopted: [{ key: 'stray', imageId: `stray${HOSTILE}`, why: HOSTILE }],
      },
    });
    const { output, text } = fakeOutput();
    renderPlan({ plan, elsewhere: [] }, output);

    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    expect(text()).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    const shown = 'disk   + forged will be imported red';
    expect(text()).toContain(`last attempt failed: IMG.0057 ${shown}\n`);
    expect(text()).toContain(`image gone${shown} was deleted`);
    expect(text()).toContain(`image stray${shown} carries imsync-key=stray but is not adopted: ${shown}\n`);
    expect(text()).toContain(`image img${shown} is kept`);
    expect(text()).not.toContain('\n  + forged');
  });
});
