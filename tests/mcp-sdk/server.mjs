// An MCP server built with the official TypeScript SDK (streamable HTTP, stateless; answers
// arrive as text/event-stream, so they cross nginx as SSE). It does no OAuth itself: nginx in front of it asks mcp-auth-broker's forward-auth
// and passes the identity in X-Auth-* headers, which the "whoami" tool reports.
//
//   node server.mjs PORT

import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

const port = Number(process.argv[2]);
if (!port) {
  console.error('usage: node server.mjs PORT');
  process.exit(2);
}

http
  .createServer(async (req, res) => {
    if (!req.url.startsWith('/mcp')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const user = req.headers['x-auth-user'];
    const subject = req.headers['x-auth-subject'];
    if (!subject) {
      // nginx must never let a request through without the broker's decision.
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"no identity"}');
      return;
    }
    const server = new McpServer({ name: 'sdk-demo', version: '1.0.0' });
    server.registerTool('whoami', { description: 'Who forward-auth says you are' }, async () => ({
      content: [{ type: 'text', text: `user=${user} sub=${subject} scopes=${req.headers['x-auth-scopes']}` }],
    }));
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: false,
    });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  })
  .listen(port, '127.0.0.1', () => console.log(`sdk mcp server on 127.0.0.1:${port}`));
