// A real OpenID Connect provider (the certified `oidc-provider` package) on 127.0.0.1 for the
// broker's OIDC integration tests. It is configured, not written, here: static clients, a few
// accounts, fresh RS256 and ES256 signing keys, and a minimal login step the test's browser
// completes over HTTP.
//
//   node server.mjs SETUP.json
//
// SETUP.json: {"clients": [oidc-provider client metadata...],
//              "accounts": {"<login>": {"sub": "...", <claims>...}}}
// Prints one line, {"issuer": "http://127.0.0.1:PORT"}, once it listens; stops on SIGTERM.
//
// Login step (what a user does on a login page):
//   GET  /interaction/UID          an HTML form with <input name="uid">
//   POST /interaction/UID/login    login=<login>: signs in and grants the requested scopes
//   POST /interaction/UID/abort    the user refuses: access_denied back to the client
// Test control (the provider's directory changing while sessions live on):
//   PUT  /test/accounts/<login>    JSON claims replace that account's claims

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const setup = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = new Map(Object.entries(setup.accounts || {}));

function signingKey(kid, type, options) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

function accountBySub(sub) {
  for (const claims of accounts.values()) if (claims.sub === sub) return claims;
  return undefined;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

function reply(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

let provider;

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return reply(res, 400, 'text/plain', 'interaction mismatch\n');
  if (req.method === 'GET' && !action) {
    return reply(
      res,
      200,
      'text/html; charset=utf-8',
      `<!doctype html><title>Sign in</title><h1>Sign in to ${escapeHtml(details.params.client_id)}</h1>` +
        `<form method="post" action="/interaction/${escapeHtml(uid)}/login">` +
        `<input type="hidden" name="uid" value="${escapeHtml(uid)}">` +
        '<input name="login" autofocus><button>Sign in</button></form>' +
        `<form method="post" action="/interaction/${escapeHtml(uid)}/abort"><button>Cancel</button></form>`,
    );
  }
  if (req.method !== 'POST') return reply(res, 405, 'text/plain', 'method not allowed\n');
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    });
  }
  const form = await readForm(req);
  const account = accounts.get(form.get('login') || '');
  if (!account) return reply(res, 401, 'text/plain', 'unknown login\n');

  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: account.sub, clientId: details.params.client_id });
  // Signing in grants what the client asked for (a consent screen would ask here).
  grant.addOIDCScope(details.params.scope || 'openid');
  const missing = details.prompt.details || {};
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  return provider.interactionFinished(
    req,
    res,
    { login: { accountId: account.sub }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

async function testControl(req, res, login) {
  let body = '';
  for await (const chunk of req) body += chunk;
  const claims = JSON.parse(body);
  if (!claims.sub) return reply(res, 400, 'text/plain', 'sub is required\n');
  accounts.set(login, claims);
  return reply(res, 204, 'text/plain', '');
}

const server = createServer(async (req, res) => {
  try {
    const path = new URL(req.url, 'http://127.0.0.1').pathname;
    // A browser asks every site for its icon; a real provider has one (and the browser tests
    // count a failed request as a problem).
    if (path === '/favicon.ico') return reply(res, 204, 'image/x-icon', '');
    let m = path.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
    if (m) return await interaction(req, res, m[1], m[2]);
    m = path.match(/^\/test\/accounts\/([^/]+)$/);
    if (m && req.method === 'PUT') return await testControl(req, res, decodeURIComponent(m[1]));
    return provider.callback()(req, res);
  } catch (err) {
    if (!res.headersSent) reply(res, 500, 'text/plain', `${err.name}: ${err.message}\n`);
    else res.end();
  }
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, {
    clients: setup.clients,
    jwks: {
      keys: [
        signingKey('test-rsa', 'rsa', { modulusLength: 2048 }),
        signingKey('test-ec', 'ec', { namedCurve: 'P-256' }),
      ],
    },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, i) => `/interaction/${i.uid}` },
    async findAccount(ctx, sub) {
      if (!accountBySub(sub)) return undefined;
      return {
        accountId: sub,
        // Read at every call, so a change made through /test/accounts shows at the next refresh.
        async claims() {
          return { ...(accountBySub(sub) || { sub }) };
        },
      };
    },
    // The broker re-reads the identity at every refresh of its own tokens, through these.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    pkce: { required: () => true },
  });
  // Logged by oidc-provider for a development setup; the tests run on loopback on purpose.
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
setTimeout(() => process.exit(0), 30 * 60 * 1000).unref(); // never outlive a stuck test run
