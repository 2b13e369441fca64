import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { RouterProvider } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { SessionProvider, restoreSession } from './session/session.js';
import { router } from './app.js';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    // Live events mark queries stale; the slow poll only catches what no event announces.
    queries: { staleTime: 5_000, refetchInterval: 15_000, retry: 1 },
  },
});

void restoreSession().then((initial) =>
  createRoot(document.getElementById('root') as HTMLElement).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <SessionProvider initial={initial}>
          <RouterProvider router={router} />
        </SessionProvider>
      </QueryClientProvider>
    </StrictMode>,
  ),
);
