// GET /dashboard (admin): a self-contained page that polls /v1/admin/dashboard.json.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isDmanError } from '../../shared/errors.js';
import type { Principal } from '../auth/authenticate.js';
import type { RouteContext } from '../http/context.js';
import { statusFor } from '../http/httpStatus.js';
import { parseWith } from '../http/parse.js';
import type { Observability } from '../observability/Observability.js';
import { buildDashboardData } from './buildDashboardData.js';
import { createDashboardSessions, readCookie, SESSION_COOKIE } from './createDashboardSessions.js';
import { DASHBOARD_CSS, DASHBOARD_JS } from './dashboardAssets.js';
import { esc, renderDashboard, renderPanels } from './renderDashboard.js';
import { loadUplotAssets } from './loadUplotAssets.js';

/** The page's Content-Security-Policy: own scripts and styles only, no inline code, no framing. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset { type: string; body: string | Buffer }

/** Loads uPlot once; without it the page still shows every number, just no charts. */
function loadUplot(): { js: Asset; css: Asset } | null {
  const files = loadUplotAssets();
  if (!files) return null;
  return {
    js: { type: 'text/javascript; charset=utf-8', body: files.js },
    css: { type: 'text/css; charset=utf-8', body: files.css },
  };
}

const pageQuery = z.object({ token: z.string().min(1).max(512).optional() });
const jsonQuery = z.object({ html: z.enum(['0', '1']).optional() });

/** Registers /dashboard, its assets and /v1/admin/dashboard.json. */
export function registerDashboardRoutes(app: FastifyInstance, ctx: RouteContext, obs: Observability): void {
  const sessions = createDashboardSessions({ now: ctx.now });
  const uplot = loadUplot();
  const assets = new Map<string, Asset>([
    ['dashboard.js', { type: 'text/javascript; charset=utf-8', body: DASHBOARD_JS }],
    ['dashboard.css', { type: 'text/css; charset=utf-8', body: DASHBOARD_CSS }],
    ...(uplot ? ([['uPlot.iife.min.js', uplot.js], ['uPlot.min.css', uplot.css]] as const) : []),
  ]);

  const secure = (reply: FastifyReply) => reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-store');

  /** Authenticates with the Authorization header, else the session cookie; admins only. */
  async function admin(req: FastifyRequest, reply: FastifyReply): Promise<Principal> {
    if (!req.headers.authorization) {
      const token = sessions.check(readCookie(req.headers.cookie, SESSION_COOKIE));
      if (token) req.headers.authorization = `Bearer ${token}`;
    }
    const p = await ctx.authenticate(req, reply);
    ctx.requireAdmin(p);
    return p;
  }

  function signIn(reply: FastifyReply, status: number, why: string) {
    secure(reply).code(status).type('text/html; charset=utf-8');
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>dman dashboard: sign in</title><link rel="stylesheet" href="/dashboard/assets/dashboard.css"></head>
<body><main><section class="panel"><h2>dman server dashboard</h2><p class="bad">${esc(why)}</p>
<p>Open <code>/dashboard?token=ADMIN_TOKEN</code> once with an admin token (<code>dman token create --admin --device dashboard</code>); the token is swapped for a session cookie and removed from the address.</p></section></main></body></html>`;
  }

  app.get('/dashboard', async (req, reply) => {
    const q = parseWith(pageQuery, req.query, 'query');
    if (q.token) req.headers.authorization = `Bearer ${q.token}`;
    if (!req.headers.authorization && !readCookie(req.headers.cookie, SESSION_COOKIE)) return signIn(reply, 401, 'This page needs an admin token.');
    let p: Principal;
    try {
      p = await admin(req, reply);
    } catch (err) {
      if (isDmanError(err) && (err.code === 'AUTH_INVALID' || err.code === 'AUTH_REQUIRED' || err.code === 'FORBIDDEN' || err.code === 'RATE_LIMITED')) {
        return signIn(reply, statusFor(err.code), err.message);
      }
      throw err;
    }
    if (q.token) {
      const https = req.protocol === 'https';
      reply.header('set-cookie', `${SESSION_COOKIE}=${sessions.create(q.token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(sessions.ttlMs / 1000)}${https ? '; Secure' : ''}`);
      await ctx.audit(req, p, { action: 'dashboard.login', outcome: 'ok' });
      // The token must not stay in the address bar, the history or a Referer.
      secure(reply).code(303).header('location', '/dashboard');
      return '';
    }
    const data = await buildDashboardData(ctx, obs);
    secure(reply).type('text/html; charset=utf-8');
    return renderDashboard(data, { hasCharts: uplot !== null });
  });

  app.get('/dashboard/assets/:name', async (req, reply) => {
    const { name } = parseWith(z.object({ name: z.string().max(64) }), req.params, 'params');
    const a = assets.get(name);
    if (!a) return reply.code(404).type('text/plain').send('no such asset');
    reply.header('x-content-type-options', 'nosniff').header('cache-control', 'public, max-age=3600').type(a.type);
    return a.body;
  });

  app.get('/v1/admin/dashboard.json', async (req, reply) => {
    await admin(req, reply);
    const q = parseWith(jsonQuery, req.query, 'query');
    const data = await buildDashboardData(ctx, obs);
    reply.header('cache-control', 'no-store');
    return q.html === '1' ? { ...data, panels: renderPanels(data) } : data;
  });
}
