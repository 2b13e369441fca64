import { useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSignedIn } from '../session/session.js';
import { AgentText, Badge, ErrorNote, PageHeader, Time } from '../components/text.js';

type Scope = 'global' | 'role' | 'agent';

/** Kill switches: engage or release a global, role or agent switch, with a reason (admins). */
export function KillSwitchesPage() {
  const { client, abilities } = useSignedIn();
  const queryClient = useQueryClient();
  const switches = useQuery({ queryKey: ['killswitches'], queryFn: () => client.listKillSwitches() });
  const [scope, setScope] = useState<Scope>('global');
  const [target, setTarget] = useState('');
  const [reason, setReason] = useState('');
  const set = useMutation({
    mutationFn: (p: { active: boolean; scope: string; reason: string }) => {
      const [kind, ...rest] = p.scope.split(':');
      const name = rest.join(':');
      return client.killSwitch({
        active: p.active,
        ...(kind === 'role' ? { role: name } : kind === 'agent' ? { agent: name } : {}),
        ...(p.reason ? { reason: p.reason } : {}),
      });
    },
    onSuccess: () => setReason(''),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['killswitches'] }),
  });
  const engage = (e: FormEvent) => {
    e.preventDefault();
    set.mutate({ active: true, scope: scope === 'global' ? 'global' : `${scope}:${target.trim()}`, reason });
  };

  return (
    <>
      <PageHeader title="Kill switches" />
      <ErrorNote error={switches.error ?? set.error} />
      <table aria-label="Kill switches">
        <thead>
          <tr>
            <th scope="col">Scope</th>
            <th scope="col">State</th>
            <th scope="col">Reason</th>
            <th scope="col">Set by</th>
            <th scope="col">When</th>
            {abilities.isAdmin ? <th scope="col">Change</th> : null}
          </tr>
        </thead>
        <tbody>
          {(switches.data ?? []).map((s) => (
            <tr key={s.scope} data-scope={s.scope}>
              <td>{s.scope}</td>
              <td>
                <Badge value={s.active ? 'engaged' : 'released'} />
              </td>
              <td>
                <AgentText text={s.reason} empty="—" />
              </td>
              <td>{s.setBy}</td>
              <td>
                <Time at={s.setAt} />
              </td>
              {abilities.isAdmin ? (
                <td>
                  {s.active ? (
                    <button
                      type="button"
                      className="small"
                      aria-label={`Release ${s.scope}`}
                      onClick={() =>
                        set.mutate({ active: false, scope: s.scope, reason: 'released from the console' })
                      }
                    >
                      Release
                    </button>
                  ) : null}
                </td>
              ) : null}
            </tr>
          ))}
          {switches.data?.length === 0 ? (
            <tr>
              <td colSpan={abilities.isAdmin ? 6 : 5} className="muted">
                No switch has been set.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {abilities.isAdmin ? (
        <form className="engage" onSubmit={engage} aria-labelledby="engage-title">
          <h2 id="engage-title">Engage a switch</h2>
          <label htmlFor="ks-scope">Scope</label>
          <select id="ks-scope" value={scope} onChange={(e) => setScope(e.target.value as Scope)}>
            <option value="global">global (every agent)</option>
            <option value="role">a role</option>
            <option value="agent">an agent</option>
          </select>
          {scope !== 'global' ? (
            <>
              <label htmlFor="ks-target">{scope === 'role' ? 'Role' : 'Agent id'}</label>
              <input id="ks-target" value={target} onChange={(e) => setTarget(e.target.value)} required />
            </>
          ) : null}
          <label htmlFor="ks-reason">Reason</label>
          <input id="ks-reason" value={reason} onChange={(e) => setReason(e.target.value)} required />
          <button type="submit" className="danger" disabled={set.isPending}>
            Engage
          </button>
        </form>
      ) : (
        <p className="muted" data-testid="viewer-note">
          Only admins can engage or release a kill switch.
        </p>
      )}
    </>
  );
}
