import { useRef } from 'react';
import type { ReactNode } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';

/** Options for {@link VirtualRows}. */
export interface VirtualRowsOptions<T> {
  label: string;
  items: readonly T[];
  columns: readonly string[];
  rowKey(item: T): string;
  renderRow(item: T): ReactNode[];
  /** Row height in pixels (rows are one line). */
  rowHeight?: number;
  empty?: string;
}

/**
 * A table whose rows are virtualised: only the visible rows are in the DOM, so a list of thousands of agents or
 * events scrolls as lightly as one of ten. Rendered with ARIA table roles, since absolutely placed rows cannot be
 * a `<table>`.
 */
export function VirtualRows<T>(props: VirtualRowsOptions<T>) {
  const parent = useRef<HTMLDivElement>(null);
  const height = props.rowHeight ?? 40;
  const v = useVirtualizer({
    count: props.items.length,
    getScrollElement: () => parent.current,
    estimateSize: () => height,
    overscan: 10,
  });
  const template = `repeat(${props.columns.length}, minmax(0, 1fr))`;
  return (
    <div role="table" aria-label={props.label} aria-rowcount={props.items.length + 1} className="vtable">
      <div role="rowgroup">
        <div role="row" className="vrow vhead" style={{ gridTemplateColumns: template }}>
          {props.columns.map((c) => (
            <span role="columnheader" key={c}>
              {c}
            </span>
          ))}
        </div>
      </div>
      <div ref={parent} className="vbody" tabIndex={0} role="rowgroup" aria-label={`${props.label} rows`}>
        {props.items.length === 0 ? (
          <div role="row" className="vrow">
            <span role="cell" className="muted">
              {props.empty ?? 'Nothing to show.'}
            </span>
          </div>
        ) : (
          <div style={{ height: v.getTotalSize(), position: 'relative' }}>
            {v.getVirtualItems().map((row) => {
              const item = props.items[row.index] as T;
              return (
                <div
                  role="row"
                  aria-rowindex={row.index + 2}
                  key={props.rowKey(item)}
                  className="vrow"
                  style={{
                    gridTemplateColumns: template,
                    position: 'absolute',
                    top: 0,
                    left: 0,
                    right: 0,
                    height,
                    transform: `translateY(${row.start}px)`,
                  }}
                >
                  {props.renderRow(item).map((cell, i) => (
                    <span role="cell" key={i}>
                      {cell}
                    </span>
                  ))}
                </div>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
