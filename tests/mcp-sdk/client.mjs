// The official MCP TypeScript SDK client, run headlessly: its own auth() flow (401 -> protected
// resource metadata -> authorization server metadata -> dynamic client registration -> authorize)
// with a "browser" that walks the broker's consent page and development login, then tools/list
// through nginx. Prints one JSON line with what happened; exits 0 when the expectations hold.
//
//   node client.mjs MCP_URL USER [--expect-denied] [--refresh-after SECONDS] [--other-url URL]
//                   [--cimd CERT.pem KEY.pem]
//
// With --cimd the client does not register: it serves its own Client ID Metadata Document over
// HTTPS on loopback (with the given certificate) and uses that document's URL as its client_id.

import fs from 'node:fs';
import https from 'node:https';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [mcpUrl, user, ...rest] = process.argv.slice(2);
const flag = (name) => rest.includes(name);
const option = (name) => (rest.indexOf(name) >= 0 ? rest[rest.indexOf(name) + 1] : undefined);
const REDIRECT = 'http://127.0.0.1:7777/callback';

function unescapeHtml(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
function inputValue(html, name) {
  const m = html.match(new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`));
  return m ? unescapeHtml(m[1]) : '';
}

// A minimal browser: cookies by name, no automatic redirects.
class Browser {
  constructor() {
    this.cookies = new Map();
  }
  async request(url, init = {}) {
    const headers = { ...(init.headers || {}) };
    if (this.cookies.size) {
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    return { res, body: await res.text(), location: res.headers.get('location') };
  }
  post(url, fields) {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

// authorize -> consent (approve with the dev upstream) -> dev login -> redirect to the client.
async function browse(authorizationUrl, username) {
  const browser = new Browser();
  const consent = await browser.request(authorizationUrl);
  if (consent.res.status !== 200) return { error: `authorize answered ${consent.res.status}` };
  const approved = await browser.post(new URL('authorize/consent', authorizationUrl), {
    request: inputValue(consent.body, 'request'),
    csrf: inputValue(consent.body, 'csrf'),
    upstream: 'dev',
  });
  if (!approved.location) return { error: `consent answered ${approved.res.status}` };
  const loginUrl = new URL(approved.location, authorizationUrl);
  const login = await browser.request(loginUrl);
  const done = await browser.post(new URL('callback', loginUrl), {
    state: inputValue(login.body, 'state'),
    username,
  });
  let target = done.location;
  if (!target) {
    // A denial is a page with a link back to the client carrying the OAuth error.
    const m = done.body.match(/<a[^>]*id="continue"[^>]*href="([^"]*)"/);
    target = m ? unescapeHtml(m[1]) : '';
  }
  if (!target.startsWith(REDIRECT)) return { error: `no redirect to the client (${done.res.status})` };
  const params = new URL(target).searchParams;
  return { code: params.get('code'), error: params.get('error'), iss: params.get('iss') };
}

class HeadlessProvider {
  constructor(username) {
    this.username = username;
    this.tokenSaves = 0;
    this.registrations = 0;
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: 'MCP SDK interop test',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
    // Dynamic registration answers with the broker's client_id_issued_at; a metadata-document
    // client_id is saved as it is.
    if (info.client_id_issued_at !== undefined) this.registrations++;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens) {
    this.saved = tokens;
    this.tokenSaves++;
  }
  saveCodeVerifier(v) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  async redirectToAuthorization(url) {
    this.outcome = await browse(url, this.username);
  }
}

async function connect(provider) {
  const attempt = async () => {
    const client = new Client({ name: 'sdk-interop', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
    return client;
  };
  try {
    return await attempt();
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || !provider.outcome?.code) throw e;
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    await transport.finishAuth(provider.outcome.code);
    return attempt();
  }
}

// Serves this client's metadata document; resolves to its URL.
async function serveMetadataDocument(certFile, keyFile, metadata) {
  let url;
  const server = https.createServer(
    { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
    (req, res) => {
      documentFetches++;
      if (req.url !== '/oauth/client.json') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify({ ...metadata, client_id: url }));
    },
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  url = `https://127.0.0.1:${server.address().port}/oauth/client.json`;
  return url;
}
let documentFetches = 0;

const report = {};
let ok = true;
const provider = new HeadlessProvider(user);
const cimd = rest.indexOf('--cimd');
if (cimd >= 0) {
  provider.clientMetadataUrl = await serveMetadataDocument(
    rest[cimd + 1],
    rest[cimd + 2],
    provider.clientMetadata,
  );
}
try {
  const client = await connect(provider);
  report.registrations = provider.registrations;
  report.client_id = provider.client?.client_id;
  report.document_fetches = documentFetches;
  report.tools = (await client.listTools()).tools.map((t) => t.name);
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  report.whoami = who.content[0].text;
  const first = provider.saved.access_token;
  const wait = Number(option('--refresh-after') || 0);
  if (wait) {
    await new Promise((r) => setTimeout(r, wait * 1000));
    report.tools_after_expiry = (await client.listTools()).tools.map((t) => t.name);
    report.refreshed = provider.saved.access_token !== first && provider.tokenSaves >= 2;
    ok = ok && report.refreshed;
  }
  // The same call by hand, to see how the answer crosses nginx (SSE, unbuffered).
  const raw = await fetch(mcpUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${provider.saved.access_token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
  });
  report.raw_content_type = raw.headers.get('content-type');
  report.raw_has_event = /^event: message$/m.test(await raw.text());
  const other = option('--other-url');
  if (other) {
    const res = await fetch(other, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${provider.saved.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    report.other_status = res.status;
    report.other_challenge = res.headers.get('www-authenticate');
    ok = ok && res.status === 401 && /error="invalid_token"/.test(report.other_challenge || '');
  }
  ok = ok && !flag('--expect-denied') && report.tools.includes('whoami');
  await client.close();
} catch (e) {
  report.exception = String(e && e.message ? e.message : e);
  report.outcome = provider.outcome;
  ok = flag('--expect-denied') && provider.outcome?.error === 'access_denied';
}
console.log(JSON.stringify(report));
process.exit(ok ? 0 : 1);
