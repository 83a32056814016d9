import { describe, expect, it } from 'vitest';
import { runRegions } from '../../src/plan/regions.js';
import { emptyState } from '../../src/state/model.js';
import { manifest, systemSpec } from '../support/specs.js';
import { imported } from '../support/states.js';

describe('runRegions', () => {
  const manifests = [
    manifest('a', systemSpec('a')),
    manifest('b', systemSpec('b'), 'cn-north-4'),
    manifest('c', systemSpec('c'), 'eu-west-101'),
  ];
  const state = imported(emptyState(), 'old', systemSpec('old'), 'af-south-1');

  it('covers every region of the manifests and the records, a manifest without one in the default region', () => {
    expect(runRegions(manifests, state, 'ap-southeast-1')).toEqual({
      regions: ['af-south-1', 'ap-southeast-1', 'cn-north-4', 'eu-west-101'],
      leftOut: [],
    });
  });

  it('narrows to the regions asked for, and says which it leaves alone', () => {
    expect(runRegions(manifests, state, 'ap-southeast-1', ['cn-north-4', 'la-south-2'])).toEqual({
      regions: ['cn-north-4', 'la-south-2'],
      leftOut: ['af-south-1', 'ap-southeast-1', 'eu-west-101'],
    });
  });

  it('with nothing yet, is the default region; with no default, only the regions named', () => {
    expect(runRegions([], emptyState(), 'ap-southeast-1').regions).toEqual(['ap-southeast-1']);
    expect(runRegions([manifest('a', systemSpec('a'))], emptyState(), undefined).regions).toEqual([]);
    expect(runRegions(manifests, emptyState(), undefined).regions).toEqual(['cn-north-4', 'eu-west-101']);
  });
});
