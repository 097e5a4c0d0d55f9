// Drives Debian's Chromium (headless, through puppeteer-core) through the broker's sign-in pages
// as a person would, and reports what the browser saw. The assertions live in the test that runs
// it (tests/integration/browser_test.cpp); this script only clicks, types and records.
//
//   node drive.mjs SCENARIO.json      prints one JSON line: the report
//
// SCENARIO.json:
//   {"browser": "chrome",                       or "firefox" (Debian's firefox-esr, over
//                                                WebDriver BiDi); default chrome
//    "executable": "/usr/bin/chromium",         optional; default /usr/bin/chromium or
//                                                /usr/bin/firefox-esr
//    "clientPort": 43123,                        the client's redirect URI is served here
//    "screenshots": "DIR",                       one PNG per page shown
//    "viewport": {"width": 375, "height": 740},  optional (a phone); default 1280x800
//    "sessions": [                               each one a fresh browser context
//      {"rounds": [                              navigations in that context, one after another
//        {"url": "http://127.0.0.1:PORT/authorize?...",  or "@stopped": where the last round stopped
//         "choose": "github",                    consent page: the upstream button, or "deny"
//         "user": "alice",                       the dev login's username / the OIDC login
//         "stopAt": "URL prefix"}]}]}            end the round before navigating there
//
// Report: {"sessions": [{"rounds": [{"pages": [{"url", "status", "kind", "title", "screenshot",
//          "checks": {...}}], "client": {query of the client's redirect, or null},
//          "stoppedAt": URL or null, "problems": [text...]}]}]}
// A page's kind: "consent", "dev-login" and "error" (the broker's pages), "oidc-login" (the
// provider's), "client" (the redirect URI), or "other".
// Problems: console errors and warnings (CSP refusals and mixed content show there), script
// errors, and failed requests; except the one line Chromium logs for a document answered with
// an error status, which the test reads from the page's status instead.

import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

import puppeteer from 'puppeteer-core';

const scenario = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const kNavigationTimeout = 15000;

// The client application: its redirect URI answers with a plain page and remembers the query.
let lastClientQuery = null;
const client = createServer((req, res) => {
  const url = new URL(req.url, `http://127.0.0.1:${scenario.clientPort}`);
  if (url.pathname === '/callback') lastClientQuery = Object.fromEntries(url.searchParams);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Client</title></head>' +
      '<body><h1>Back at the application</h1></body></html>',
  );
});
await new Promise((resolve) => client.listen(scenario.clientPort, '127.0.0.1', resolve));

function kindOf(url, html) {
  const u = new URL(url);
  if (u.port === String(scenario.clientPort)) return 'client';
  if (u.pathname.startsWith('/interaction/')) return 'oidc-login';
  if (html.includes('action="authorize/consent"')) return 'consent';
  if (/\/auth\/[^/]+\/login$/.test(u.pathname) && html.includes('name="username"')) {
    return 'dev-login';
  }
  if (html.includes('<h1>')) return 'error';
  return 'other';
}

// What a phone user and a screen reader need from a page.
async function pageChecks(page) {
  return page.evaluate(() => {
    const visible = (el) => el.type !== 'hidden';
    const unlabeled = [...document.querySelectorAll('input, select, textarea')]
      .filter(visible)
      .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.name || el.outerHTML);
    const emptyButtons = [...document.querySelectorAll('button, a.button, input[type=submit]')]
      .filter((el) => (el.innerText || el.value || '').trim() === '')
      .map((el) => el.outerHTML);
    return {
      lang: document.documentElement.lang,
      viewportMeta: document.querySelector('meta[name=viewport]')?.content ?? '',
      horizontalScroll: document.documentElement.scrollWidth > window.innerWidth,
      unlabeled,
      emptyButtons,
    };
  });
}

async function clickAndWait(page, selector) {
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: kNavigationTimeout }),
    page.click(selector),
  ]);
}

// One action on the page a person would take in this round, or false when the round is over.
async function act(page, kind, round) {
  switch (kind) {
    case 'consent': {
      const choice = round.choose === 'deny'
        ? 'button[value="deny"]'
        : round.choose
          ? `button[name="upstream"][value="${round.choose}"]`
          : 'button.primary';
      await clickAndWait(page, choice);
      return true;
    }
    case 'dev-login':
      await page.type('input[name="username"]', round.user || 'alice');
      await clickAndWait(page, 'button[type="submit"]');
      return true;
    case 'oidc-login':
      await page.type('input[name="login"]', round.user || 'alice');
      await clickAndWait(page, 'form[action$="/login"] button');
      return true;
    default:
      return false;
  }
}

async function runRound(context, session, round, index, previousStop) {
  const page = await context.newPage();
  await page.setViewport(scenario.viewport || { width: 1280, height: 800 });
  const report = { pages: [], client: null, stoppedAt: null, problems: [] };
  const documents = new Map(); // URL -> status of main-frame documents
  let aborted = new Set();

  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warn' && msg.type() !== 'warning') return;
    const where = msg.location()?.url || '';
    const status = /the server responded with a status of (\d+)/.exec(msg.text());
    if (status && documents.get(where) === Number(status[1])) return;
    report.problems.push(`console ${msg.type()}: ${msg.text()} (${where})`);
  });
  page.on('pageerror', (err) => report.problems.push(`script error: ${err.message}`));
  page.on('requestfailed', (req) => {
    if (aborted.has(req.url())) return;
    report.problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  });
  page.on('response', (res) => {
    if (res.request().isNavigationRequest() && res.frame() === page.mainFrame()) {
      documents.set(res.url(), res.status());
    }
  });
  if (round.stopAt) {
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      if (req.isNavigationRequest() && req.url().startsWith(round.stopAt)) {
        report.stoppedAt = req.url();
        aborted.add(req.url());
        req.abort('aborted');
      } else {
        req.continue();
      }
    });
  }

  lastClientQuery = null;
  const start = round.url === '@stopped' ? previousStop : round.url;
  try {
    await page.goto(start, { waitUntil: 'load', timeout: kNavigationTimeout });
  } catch (err) {
    if (!report.stoppedAt) report.problems.push(`navigation failed: ${err.message}`);
  }
  for (let step = 0; step < 10 && !report.stoppedAt; ++step) {
    const url = page.url();
    const html = await page.content();
    const kind = kindOf(url, html);
    const shot = join(scenario.screenshots, `s${session}-r${index}-p${step}-${kind}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    report.pages.push({
      url,
      status: documents.get(url) ?? 0,
      kind,
      title: await page.title(),
      text: await page.evaluate(() => document.body?.innerText ?? ''),
      screenshot: shot,
      checks: await pageChecks(page),
    });
    let acted = false;
    try {
      acted = await act(page, kind, round);
    } catch (err) {
      if (!report.stoppedAt) report.problems.push(`step on ${kind} page failed: ${err.message}`);
    }
    if (!acted) break;
  }
  report.client = lastClientQuery;
  await page.close();
  return report;
}

mkdirSync(scenario.screenshots, { recursive: true });
const firefox = scenario.browser === 'firefox';
const browser = await puppeteer.launch(
  firefox
    ? {
        browser: 'firefox',
        executablePath: scenario.executable || '/usr/bin/firefox-esr',
        headless: true,
      }
    : {
        executablePath: scenario.executable || '/usr/bin/chromium',
        headless: true,
        args: [
          '--no-sandbox', // the tests run as root on CI machines
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      },
);
const result = { sessions: [] };
try {
  let stopped = null;
  for (const [s, session] of scenario.sessions.entries()) {
    const context = await browser.createBrowserContext();
    const rounds = [];
    for (const [r, round] of session.rounds.entries()) {
      const report = await runRound(context, s, round, r, stopped);
      stopped = report.stoppedAt ?? stopped;
      rounds.push(report);
    }
    await context.close();
    result.sessions.push({ rounds });
  }
} finally {
  await browser.close();
  client.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
