import { useMemo } from 'react';
import { Background, Controls, MarkerType, Position, ReactFlow } from '@xyflow/react';
import type { Edge, Node } from '@xyflow/react';
import { Graph, layout } from '@dagrejs/dagre';
import '@xyflow/react/dist/style.css';

/** One step as the graph draws it. */
export interface GraphStep {
  id: string;
  kind: string;
  status: string;
  /** The steps it waits for. */
  dependsOn: string[];
}

const WIDTH = 170;
const HEIGHT = 54;

/** Lays the steps out left to right with dagre, so a DAG of any shape reads in dependency order. */
export function layoutSteps(steps: readonly GraphStep[]): { nodes: Node[]; edges: Edge[] } {
  const g = new Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 48 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(steps.map((s) => s.id));
  for (const s of steps) g.setNode(s.id, { width: WIDTH, height: HEIGHT });
  const edges: Edge[] = [];
  for (const s of steps)
    for (const d of s.dependsOn)
      if (ids.has(d)) {
        g.setEdge(d, s.id);
        edges.push({
          id: `${d}->${s.id}`,
          source: d,
          target: s.id,
          markerEnd: { type: MarkerType.ArrowClosed },
          animated: s.status === 'running' || s.status === 'waiting',
        });
      }
  layout(g);
  const nodes: Node[] = steps.map((s) => {
    const p = g.node(s.id);
    return {
      id: s.id,
      position: { x: (p?.x ?? 0) - WIDTH / 2, y: (p?.y ?? 0) - HEIGHT / 2 },
      data: { label: `${s.id} · ${s.kind} · ${s.status}` },
      className: `step-node step-${s.status}`,
      draggable: false,
      connectable: false,
      // Left to right: edges leave a step on its right and enter the next on its left.
      sourcePosition: Position.Right,
      targetPosition: Position.Left,
      ariaLabel: `step ${s.id} (${s.kind}): ${s.status}`,
    };
  });
  return { nodes, edges };
}

/** A run's steps as a graph: each node names the step, its kind and its state, coloured by state. */
export function RunGraph(props: { steps: readonly GraphStep[]; onSelect(id: string): void }) {
  const { nodes, edges } = useMemo(() => layoutSteps(props.steps), [props.steps]);
  return (
    <div className="run-graph" data-testid="run-graph">
      <ReactFlow
        // A new shape (the definition's edges arrive after the run) lays out and fits anew.
        key={edges.map((e) => e.id).join(',') || nodes.map((n) => n.id).join(',')}
        nodes={nodes}
        edges={edges}
        fitView
        nodesDraggable={false}
        nodesConnectable={false}
        onNodeClick={(_e, n) => props.onSelect(n.id)}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
