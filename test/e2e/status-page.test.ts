// The status page (issue 13) in a real browser: Debian's Chromium, driven by playwright-core,
// against `imsync watch` and `imsync emulator` in processes of their own. With JavaScript the page
// follows the daemon live (no reload): an import goes from submitted to succeeded, a failed one
// shows its IMS code and reason, escaped. Without JavaScript the table renders and filters through
// the query string. CI installs Chromium (.ci/run); a machine without it fails here, saying so.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { allDaemonOutput, cleanup, SECRET_KEY, startEmulator, Workspace } from '../support/watch-harness.js';

const CHROMIUM = '/usr/bin/chromium';
/** The file name of an image the emulator cannot import (IMG.0072), of markup to be shown as text (IMS allows no spaces). */
const HOSTILE_URL = 'golden:<img/src=x/onerror="window.pwned=1"><script>window.pwned=2</script>&amp;.qcow2';

// What the functions run in the page use of it (the project's types have no DOM).
declare const document: {
  querySelector(selector: string): { readonly textContent: string | null } | null;
  getElementById(id: string): { readonly textContent: string | null } | null;
  querySelectorAll(selector: string): Iterable<{ getAttribute(name: string): string | null }>;
};
declare const window: { readonly pwned?: number };

let launched: Promise<Browser> | undefined;

/**
 * Debian's Chromium, started once for the file. Where it is missing or does not start, each test
 * fails saying so: CI has it, and a browser test skipped would pass unseen.
 */
function browser(): Promise<Browser> {
  launched ??= existsSync(CHROMIUM)
    ? chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] }).catch((error: Error) => {
        throw new Error(`${CHROMIUM} did not start under playwright-core: ${error.message}`);
      })
    : Promise.reject(
        new Error(
          `${CHROMIUM} is missing: the status page is tested in Debian's Chromium (apt-get install -y chromium)`,
        ),
      );
  return launched;
}

afterAll(async () => {
  await (await launched?.catch(() => undefined))?.close();
});

afterEach(async () => {
  await cleanup();
  const leaked = allDaemonOutput.splice(0).find((text) => text.includes(SECRET_KEY));
  expect(leaked, 'a daemon printed HW_SECRET_KEY').toBeUndefined();
});

const cell = (key: string, column: string) => `tr[data-key="${key}"] td[data-col="${column}"]`;

/** Waits until the text of the cell of `key` in `column` is `text` (or matches it). */
async function waitForCell(page: Page, key: string, column: string, text: string | RegExp, timeout = 20_000) {
  const pattern = typeof text === 'string' ? `^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$` : text.source;
  try {
    await page.waitForFunction(
      ([selector, source]) => new RegExp(source!).test(document.querySelector(selector!)?.textContent?.trim() ?? ''),
      [cell(key, column), pattern],
      { timeout, polling: 50 },
    );
  } catch (error) {
    const seen = await page
      .locator(`tr[data-key="${key}"]`)
      .textContent({ timeout: 100 })
      .catch(() => 'no such row');
    throw new Error(`the ${column} of ${key} never read ${String(text)}; its row: ${seen}`, { cause: error });
  }
}

/** The keys of the table's rows, in order. */
function shownKeys(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('tbody tr[data-key]')].map((row) => row.getAttribute('data-key')!),
  );
}

/** Waits until the table shows `keys`, in order: the script draws at the next frame. */
async function waitForKeys(page: Page, keys: readonly string[]): Promise<void> {
  await page
    .waitForFunction(
      (expected) =>
        [...document.querySelectorAll('tbody tr[data-key]')].map((row) => row.getAttribute('data-key')).join() ===
        expected,
      keys.join(),
      { timeout: 5_000 },
    )
    .catch(async (error: Error) => {
      throw new Error(`the table never showed ${keys.join(', ')}: it shows ${(await shownKeys(page)).join(', ')}`, {
        cause: error,
      });
    });
}

describe('the status page in Chromium', () => {
  it('follows imports live, without a reload: submitted to succeeded, and a failure with its IMS code', async () => {
    const emulator = await startEmulator(['--job-seconds', '4', '--faults', 'jobcap=1000']);
    const workspace = await Workspace.create('imsync-page-');
    await workspace.put('base');
    await workspace.put('broken-file', { image_url: HOSTILE_URL });
    const daemon = workspace.watch(emulator);
    const url = await daemon.url();

    const page = await (await browser()).newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`${url}/`);
    await page.waitForFunction(() => document.getElementById('live')?.textContent === 'live', null, {
      timeout: 10_000,
    });

    // What the first reconcile submitted ends while the page looks on.
    await waitForCell(page, 'base', 'phase', 'succeeded');
    await waitForCell(page, 'broken-file', 'phase', 'failed');
    await waitForCell(page, 'broken-file', 'error', /^IMG\.0072 .*not a RAW or ZVHD2 file/);
    const error = await page.locator(cell('broken-file', 'error')).textContent();
    expect(error).toContain(HOSTILE_URL);
    expect(await page.evaluate(() => window.pwned)).toBeUndefined();
    expect(await page.locator('#images img, #images script').count()).toBe(0);

    // A manifest added now: its row appears, runs and succeeds, all on the page as it was loaded.
    await workspace.put('web');
    await waitForCell(page, 'web', 'phase', 'submitted');
    await waitForCell(page, 'web', 'progress', /^\d+%/);
    await waitForCell(page, 'web', 'elapsed', /^\d+s$/);
    const screenshot = join(tmpdir(), `imsync-status-page-${process.pid}.png`);
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`status page screenshot: ${screenshot}`);
    await waitForCell(page, 'web', 'phase', 'succeeded');
    await waitForCell(page, 'web', 'progress', '100%');
    expect(await page.locator(cell('web', 'image')).textContent()).toMatch(/[0-9a-f-]{36}/);
    expect(loads).toBe(1);

    // Filtered and sorted in place, the address saying so for a reload.
    await page.selectOption('select[name="phase"]', 'succeeded');
    await waitForKeys(page, ['base', 'web']);
    await page.click('th a:has-text("Key")');
    await waitForKeys(page, ['web', 'base']);
    expect(new URL(page.url()).search).toBe('?phase=succeeded&sort=-key');
    await page.fill('input[name="q"]', 'WEB');
    await waitForKeys(page, ['web']);
    expect(loads).toBe(1);

    expect(await page.content()).not.toContain(SECRET_KEY);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);

  it('without JavaScript: the table renders, and the phase filter and the sort work through the query string', async () => {
    const emulator = await startEmulator(['--job-seconds', '1', '--faults', 'jobcap=1000']);
    const workspace = await Workspace.create('imsync-page-');
    for (const key of ['alpha', 'bravo', 'charlie']) await workspace.put(key);
    await workspace.put('delta-bad', { image_url: 'golden:disk.qcow2' });
    const daemon = workspace.watch(emulator);
    await daemon.waitForIdle();
    const url = await daemon.url();

    const context = await (await browser()).newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${url}/`);
    expect(await shownKeys(page)).toEqual(['alpha', 'bravo', 'charlie', 'delta-bad']);
    expect(await page.locator('#live').textContent()).toBe('not live: reload for the latest');
    expect(await page.locator(cell('charlie', 'phase')).textContent()).toBe('succeeded');

    await page.selectOption('select[name="phase"]', 'failed');
    await page.click('button[type="submit"]');
    await page.waitForURL(/phase=failed/);
    expect(await shownKeys(page)).toEqual(['delta-bad']);
    expect(await page.locator(cell('delta-bad', 'error')).textContent()).toMatch(/^IMG\.0072 .*disk\.qcow2/);

    await page.click('a:has-text("succeeded (3)")');
    await page.waitForURL(/phase=succeeded/);
    await page.click('th a:has-text("Key")');
    await page.waitForURL(/sort=-key/);
    expect(await shownKeys(page)).toEqual(['charlie', 'bravo', 'alpha']);
    await page.goto(`${url}/?q=BRAV`);
    expect(await shownKeys(page)).toEqual(['bravo']);
    await context.close();
  }, 60_000);
});
