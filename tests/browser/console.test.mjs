// Browser tests of the admin console: Debian's headless Chromium (driven by playwright-core)
// against a real `tally serve` over a generated workspace. Screenshots go to
// target/screenshots/. Run from the repository root after `cargo build`:
//   (cd tests/browser && npm ci && npm test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '../..');
const bin = process.env.TALLY_BIN ?? join(root, 'target/debug/tally');
const shots = join(root, 'target/screenshots');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PASSWORD = 'browser-test-password';
const port = 20000 + Math.floor(Math.random() * 20000);
const base = `http://127.0.0.1:${port}`;

let dataDir, server, browser, admin, nonAdmin, builderKey, ingestKey;

function tally(args, input) {
  return execFileSync(bin, ['--data-dir', dataDir, ...args], { input, encoding: 'utf8' });
}

async function waitReady() {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('tally did not become ready');
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'tally-browser-'));
  const end = new Date().toISOString();
  const gen = ['generate', '--workspace', 'acme', '--members', '40', '--days', '75', '--end', end];
  tally(gen);
  tally([...gen, '--out', join(dataDir, 'files')]);
  const members = JSON.parse(readFileSync(join(dataDir, 'files/members.json'), 'utf8'));
  admin = members.find((m) => m.role === 'admin' && m.status === 'active');
  nonAdmin = members.find((m) => m.role === 'user' && m.status === 'active');
  for (const m of [admin, nonAdmin]) {
    tally(['members', 'set-password', '--workspace', 'acme', '--user', m.userId, '--password-stdin'], `${PASSWORD}\n`);
  }
  const created = tally(['keys', 'create', '--workspace', 'acme', '--role', 'builder', '--json']);
  builderKey = JSON.parse(created).secret;
  const ingest = tally(['keys', 'create', '--workspace', 'acme', '--role', 'user', '--scope', 'ingest', '--json']);
  ingestKey = JSON.parse(ingest).secret;
  server = spawn(bin, ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, TALLY_LOG_LEVEL: 'warn' },
  });
  await waitReady();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function login(context, who) {
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill('input[name=email]', who.email);
  await page.fill('input[name=password]', PASSWORD);
  return page;
}

test('the console, as an admin and as a member who is not one', async (t) => {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  const page = await login(context, admin);
  await page.screenshot({ path: join(shots, 'login.png') });
  await Promise.all([page.waitForURL(/\/w\/acme\/analytics$/), page.click('button[type=submit]')]);

  await t.test('every section is on the dashboard', async () => {
    for (const id of ['overview', 'activity', 'sources', 'tool_usage', 'skill_usage', 'top_users', 'top_agents']) {
      assert.equal(await page.locator(`#${id}`).count(), 1, id);
      assert.equal(await page.locator(`#${id} a.download`).count(), 1, `${id} download`);
    }
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  });

  await t.test('switching ranges changes the numbers', async () => {
    const firstTotal = async () => Number(await page.locator('#tool_usage table tbody tr td.n').first().innerText());
    await page.click('#range a:text("7 days")');
    await page.waitForURL(/days=7/);
    const week = await firstTotal();
    assert.equal(await page.locator('#activity-volume g.series[data-series=messages] circle').count(), 7);
    await page.click('#range a:text("90 days")');
    await page.waitForURL(/days=90/);
    assert.ok((await firstTotal()) > week, 'more executions in 90 days than in 7');
    assert.equal(await page.locator('#activity-volume g.series[data-series=messages] circle').count(), 90);
    await page.goto(`${base}/w/acme/analytics?days=5`);
    assert.match(await page.locator('#notice').innerText(), /last 30 days/);
  });

  await t.test('the activity chart toggles to active users', async () => {
    await page.goto(`${base}/w/acme/analytics?days=30`);
    assert.ok(await page.locator('#activity-volume').isVisible());
    assert.ok(!(await page.locator('#activity-active').isVisible()));
    await page.click('label[for=view-active]');
    assert.ok(await page.locator('#activity-active').isVisible());
    assert.ok(!(await page.locator('#activity-volume').isVisible()));
    assert.equal(await page.locator('#activity-active g.series').count(), 3);
    await page.screenshot({ path: join(shots, 'activity-active-users.png'), fullPage: true });
  });

  await t.test('a tool can be drilled into', async () => {
    const options = await page.locator('#tool-select option').allTextContents();
    const tool = options[1];
    assert.ok(tool, 'the workspace has tools');
    await Promise.all([page.waitForURL(/tool=/), page.selectOption('#tool-select', tool)]);
    assert.equal(await page.locator('#tool_usage g.series').count(), 2, 'executions and unique users');
    const csv = await page.locator('#tool_usage a.download').getAttribute('href');
    assert.match(csv, /tool=/);
    await page.screenshot({ path: join(shots, 'tool-drill-down.png'), fullPage: true });
  });

  await t.test('overview, skill drill-down and the top lists show what they name', async () => {
    await page.goto(`${base}/w/acme/analytics?days=30`);
    const members = Number(await page.locator('#members').innerText());
    const active = Number(await page.locator('#active-users').innerText());
    assert.ok(members > 0 && active > 0 && active <= members + 5, `members ${members}, active ${active}`);
    const skills = await page.locator('#skill-select option').allTextContents();
    assert.ok(skills[1], 'the workspace has skills');
    await Promise.all([page.waitForURL(/skill=/), page.selectOption('#skill-select', skills[1])]);
    assert.equal(await page.locator('#skill_usage g.series').count(), 2, 'executions and unique users');
    for (const [id, header] of [['top_users', 'Distinct agents'], ['top_agents', 'Distinct users']]) {
      assert.ok((await page.locator(`#${id} thead`).innerText()).includes(header), id);
      const counts = await page.$$eval(`#${id} tbody tr`, (rows) => rows.map((r) => Number(r.querySelector('td.n').innerText)));
      assert.ok(counts.length > 0, `${id} has rows`);
      assert.ok(counts.every((n, i) => i === 0 || counts[i - 1] >= n), `${id} ranked by messages`);
    }
  });

  await t.test('a section CSV equals the analytics export for the same range', async () => {
    await page.goto(`${base}/w/acme/analytics?days=14`);
    const [start, end] = (await page.locator('#range').innerText()).match(/\d{4}-\d{2}-\d{2}/g);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sources a.download')]);
    assert.equal(download.suggestedFilename(), 'tally_sources_last_14_days.csv');
    const csv = readFileSync(await download.path(), 'utf8');
    const url = `${base}/api/v1/w/acme/analytics/export?table=source&startDate=${start}&endDate=${end}`;
    const exported = await (await fetch(url, { headers: { authorization: `Bearer ${builderKey}` } })).text();
    assert.equal(csv, exported);
    assert.ok(csv.split('\r\n').length > 2, 'the range has rows');
  });

  await t.test('a monthly report downloads as a ZIP of the eight tables', async () => {
    const [plain] = await Promise.all([page.waitForEvent('download'), page.click('#report-months a >> nth=0')]);
    assert.match(plain.suggestedFilename(), /^tally_report_\d{4}-\d{2}\.zip$/);
    await page.check('#include-inactive');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#report-form button[type=submit]')]);
    assert.match(download.suggestedFilename(), /^tally_report_\d{4}-\d{2}_all\.zip$/);
    const zip = readFileSync(await download.path()).toString('latin1');
    assert.ok(zip.startsWith('PK'));
    for (const table of ['usage_metrics', 'active_users', 'source', 'tool_usage', 'skill_usage', 'agents', 'users', 'messages']) {
      assert.ok(zip.includes(`${table}.csv`), table);
    }
  });

  await t.test('settings show the workspace and its keys', async () => {
    await page.goto(`${base}/w/acme/settings`);
    await page.fill('#new-key input[name=name]', 'from the browser');
    await page.click('#new-key button[type=submit]');
    assert.match(await page.locator('#new-secret').innerText(), /^tally_/);
    await page.screenshot({ path: join(shots, 'settings.png'), fullPage: true });
  });

  await t.test('the audit log viewer searches, filters and downloads its CSV', async () => {
    const at = (minutesAgo) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const person = { type: 'user', id: admin.userId, name: admin.name, email: admin.email };
    const events = [
      { id: 'br_space', action: 'space.deleted', occurredAt: at(50), actor: person,
        targets: [{ type: 'space', id: 's_fin', name: 'Finance' }],
        context: { location: '203.0.113.7', userAgent: 'Mozilla/5.0' }, metadata: { reason: 'cleanup' } },
      { id: 'br_agent_1', action: 'agent.executed', occurredAt: at(40), actor: person,
        targets: [{ type: 'agent', id: 'a_fin', name: 'Finance reports' }], context: { location: '203.0.113.7' },
        metadata: { actor_type: 'agent', initiating_user_id: admin.userId } },
      { id: 'br_agent_2', action: 'tool.executed', occurredAt: at(30), actor: person,
        targets: [{ type: 'agent', id: 'a_fin', name: 'Finance reports' }, { type: 'tool', id: 'web_search' }],
        context: { location: '203.0.113.7' }, metadata: { actor_type: 'agent', initiating_user_id: admin.userId } },
      { id: 'br_key', action: 'api_key.created', occurredAt: at(20), actor: { type: 'api_key', id: 'k_ci', name: 'ci' },
        targets: [{ type: 'api_key', id: 'k_new' }], context: { location: '198.51.100.1' } },
    ];
    const posted = await fetch(`${base}/api/v1/w/acme/audit/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ingestKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    assert.equal(posted.status, 200);
    await page.goto(`${base}/w/acme/analytics`);
    await Promise.all([page.waitForURL(/\/w\/acme\/audit$/), page.click('#nav-audit')]);
    const shown = () => page.locator('#audit-results tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
    const everything = await shown();
    for (const e of events) assert.ok(everything.includes(e.id), e.id);
    assert.ok(everything.length > events.length, 'the console\'s own logins are there too');

    await page.fill('#audit-search input[name=q]', 'finance');
    await Promise.all([page.waitForURL(/q=finance/), page.click('#audit-search button[type=submit]')]);
    assert.deepEqual(await shown(), ['br_agent_2', 'br_agent_1', 'br_space'], 'newest first');

    await page.selectOption('#audit-search select[name=actorType]', 'agent');
    await Promise.all([page.waitForURL(/actorType=agent/), page.click('#audit-search button[type=submit]')]);
    assert.deepEqual(await shown(), ['br_agent_2', 'br_agent_1'], 'the filter narrows the search');
    assert.equal(await page.inputValue('#audit-search input[name=q]'), 'finance', 'the form keeps the search');
    await page.screenshot({ path: join(shots, 'audit-viewer.png'), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#audit-export')]);
    assert.equal(download.suggestedFilename(), 'tally_audit_log.csv');
    const lines = readFileSync(await download.path(), 'utf8').split('\r\n').filter((l) => l);
    assert.equal(lines[0], 'id,leafIndex,occurredAt,action,actorType,actorId,actorName,targets,location,userAgent,metadata');
    assert.deepEqual(lines.slice(1).map((l) => l.split(',')[0]), ['br_agent_1', 'br_agent_2'], 'leaf order');

    await page.goto(`${base}/w/acme/audit?from=yesterday`);
    assert.match(await page.locator('#notice').innerText(), /from: must be a date/);
  });

  await t.test('a member who is not an admin is refused', async () => {
    const other = await browser.newContext();
    const refused = await login(other, nonAdmin);
    const [response] = await Promise.all([refused.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'), refused.click('button[type=submit]')]);
    assert.equal(response.status(), 403);
    assert.match(await refused.locator('#problem').innerText(), /not an active admin/);
    await refused.screenshot({ path: join(shots, 'non-admin-refused.png') });
    const direct = await refused.goto(`${base}/w/acme/analytics`);
    assert.match(direct.url(), /\/login$/);
    await other.close();
  });
  await context.close();
});
