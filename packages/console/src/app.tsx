import { Suspense, lazy } from 'react';
import { NavLink, Outlet, createBrowserRouter } from 'react-router';
import { LiveEventsProvider } from './live/live-events.js';
import { useSession } from './session/session.js';
import { SignInPage } from './pages/sign-in.js';
import { OverviewPage } from './pages/overview.js';
import { AgentsPage } from './pages/agents.js';
import { ApprovalPage, ApprovalsPage } from './pages/approvals.js';
import { ActivityPage } from './pages/activity.js';
import { KillSwitchesPage } from './pages/kill-switches.js';
import { ReceiptPage } from './pages/receipt.js';
import { AuditPage } from './pages/audit.js';
import { EvalsPage } from './pages/evals.js';
import { AgentPage } from './pages/agent.js';
import { RunsPage } from './pages/runs.js';
import { PoliciesPage } from './pages/policies.js';
import { BudgetsPage } from './pages/budgets.js';
import { ReportPage } from './pages/report.js';

// The run view carries the graph libraries: loaded only when a run is opened.
const RunPage = lazy(() => import('./pages/run.js').then((m) => ({ default: m.RunPage })));

const NAV = [
  ['/', 'Overview'],
  ['/agents', 'Agents'],
  ['/approvals', 'Approvals'],
  ['/activity', 'Live activity'],
  ['/runs', 'Runs'],
  ['/policies', 'Policies'],
  ['/killswitches', 'Kill switches'],
  ['/budgets', 'Budgets'],
  ['/audit', 'Audit'],
  ['/evals', 'Evals'],
  ['/report', 'Report'],
] as const;

/** The frame around every page: navigation, who is signed in, and the live stream for the pages inside. */
function Shell() {
  const { session, abilities, signOut } = useSession();
  if (!session) return <SignInPage />;
  return (
    <LiveEventsProvider client={session.client}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <nav aria-label="Main">
        <span className="brand">Autonomy OS</span>
        <ul>
          {NAV.map(([to, label]) => (
            <li key={to}>
              <NavLink to={to} end={to === '/'}>
                {label}
              </NavLink>
            </li>
          ))}
        </ul>
        <div className="who">
          <span data-testid="who">
            {session.human.id} · {abilities.label}
          </span>
          <button type="button" className="small" onClick={signOut}>
            Sign out
          </button>
        </div>
      </nav>
      <main id="main">
        <Outlet />
      </main>
    </LiveEventsProvider>
  );
}

function NotFound() {
  return <h1>Nothing here</h1>;
}

/** The console's routes; the server answers every one of them with the same index.html. */
export const router = createBrowserRouter([
  {
    path: '/',
    element: <Shell />,
    children: [
      { index: true, element: <OverviewPage /> },
      { path: 'agents', element: <AgentsPage /> },
      { path: 'agents/:id', element: <AgentPage /> },
      { path: 'runs', element: <RunsPage /> },
      {
        path: 'runs/:id',
        element: (
          <Suspense fallback={<p className="muted">Loading the run view…</p>}>
            <RunPage />
          </Suspense>
        ),
      },
      { path: 'policies', element: <PoliciesPage /> },
      { path: 'budgets', element: <BudgetsPage /> },
      { path: 'approvals', element: <ApprovalsPage /> },
      { path: 'approvals/:id', element: <ApprovalPage /> },
      { path: 'activity', element: <ActivityPage /> },
      { path: 'killswitches', element: <KillSwitchesPage /> },
      { path: 'actions/:id', element: <ReceiptPage /> },
      { path: 'audit', element: <AuditPage /> },
      { path: 'evals', element: <EvalsPage /> },
      { path: 'report', element: <ReportPage /> },
      { path: '*', element: <NotFound /> },
    ],
  },
]);
