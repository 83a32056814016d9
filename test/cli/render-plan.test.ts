// The plan for people, where what the state and the cloud said is shown: on one printable line.
import { describe, expect, it } from 'vitest';
import { renderPlan } from '../../src/cli/render-plan.js';
import { planChanges } from '../../src/plan/plan.js';
import { manifest, systemSpec } from '../support/specs.js';
import { emptyState, failed, imported } from '../support/states.js';
import { fakeOutput } from '../support/fake-output.js';
import { planOfEveryAction } from '../support/plans.js';

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

  it('words every action as the plan means it, with the counts after', () => {
    const { output, text } = fakeOutput();
    renderPlan({ plan: planOfEveryAction(), elsewhere: [] }, output);
    expect(text()).toBe(
      [
        'Changed outside imsync (found by refresh):\n',
        '  ! a-import image img-a was deleted\n',
        '  ! h-adopt image img-h carries its imsync-key tag and has no record: adopted\n',
        '  ? image img-stray carries imsync-key=stray but is not adopted: no manifest has this key\n',
        '\n',
        'imsync will perform the following actions:\n',
        '\n',
        '  + a-import (ap-southeast-1) will be imported (because image img-a was deleted)\n',
        '      name:       "a-import"\n',
        '      image_url:  "golden-images:a-import.zvhd2"\n',
        '      os_version: "Ubuntu 22.04 server 64bit"\n',
        '      min_disk:   40\n',
        '\n',
        '  + b-retry (ap-southeast-1) will be imported again\n',
        '      last attempt failed: IMG.0010 The object does not exist in OBS.\n',
        '      from:  manifests/test.yaml:1:1\n',
        '\n',
        '  ! c-hold-failed (ap-southeast-1) failed and is not retried until its manifest changes or the next resync\n',
        '      last attempt failed: IMG.0057 Quota exceeded.\n',
        '\n',
        '  ~ d-update (ap-southeast-1) will be updated in place\n',
        '      description: "old" -> "new"\n',
        '\n',
        '  -/+ e-replace (ap-southeast-1) will be replaced (imported anew, then image img-e deleted)\n',
        '      min_disk: 40 -> 80 # forces replacement\n',
        '\n',
        '  ! f-replace-blocked (ap-southeast-1) must be replaced, which is not allowed: nothing is done (apply with --allow-replace to import it anew and delete image img-f)\n',
        '      image_url: "golden-images:f-replace-blocked.zvhd2" -> "golden-images:f2.zvhd2" # forces replacement\n',
        '\n',
        '  - g-finish-replace (ap-southeast-1): image img-g-new replaced image img-g-old, which will be deleted\n',
        '\n',
        '  > h-adopt (ap-southeast-1) will be adopted: image img-h carries its imsync-key tag, so nothing is imported\n',
        '\n',
        '  = j-follow (ap-southeast-1) is being imported (job job-j INIT); apply follows it, never resubmits\n',
        '\n',
        '  ? k-settle (ap-southeast-1) was submitted without an answer; apply looks it up by its tag before sending anything again\n',
        '\n',
        '  - l-delete (ap-southeast-1) is in no manifest any more; image img-l will be deleted (--prune)\n',
        '\n',
        '  - m-keep-orphan (ap-southeast-1) is in no manifest any more; image img-m is kept (--prune deletes it)\n',
        '\n',
        'Plan: 3 to import, 1 to update, 1 to replace, 1 to adopt, 2 to delete; 3 blocked, 2 in progress, 1 unchanged.\n',
      ].join(''),
    );
  });
});
