#!/usr/bin/env python3
"""Import cycles between the modules of each crate, from the source text: module a
imports b when its files name `crate::b` (or `super::` reaching b). Submodules count as
their top-level module under src/ unless --deep is given. Exits 1 when a cycle exists.

    python3 .ci/module-cycles.py [--deep] lifeguard-pg lifeguard ...
"""
import os, re, sys
deep = '--deep' in sys.argv
crates = [a for a in sys.argv[1:] if not a.startswith('--')]
def modname(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] == 'mod': rel = rel[:-1]
    if rel in (['lib'], ['main']): return 'lib'
    return '::'.join(rel if deep else rel[:1])
def cycles(graph):
    # Tarjan SCC
    index, low, stack, on, out, i = {}, {}, [], set(), [], [0]
    def strong(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index: strong(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in list(graph): 
        if v not in index: strong(v)
    return out
bad = 0
for crate in crates:
    src = os.path.join(crate, 'src')
    graph = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            p = os.path.join(root, f)
            me = modname(src, p)
            text = open(p).read()
            text = re.sub(r'(?m)^\s*//.*$', '', text)
            # drop #[cfg(test)] mod tests { ... } bodies roughly: ignore files named tests.rs
            if f == 'tests.rs' or os.sep + 'tests' + os.sep in p: continue
            text = text.split('#[cfg(test)]\nmod tests')[0]
            targets = set()
            for m in re.finditer(r'crate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?', text):
                targets.add(m.group(1) if not deep or not m.group(2) else m.group(1)+'::'+m.group(2))
            # `use crate::{a, b::c}` groups
            for m in re.finditer(r'use crate::\{([^}]*)\}', text, re.S):
                for part in m.group(1).split(','):
                    part = part.strip()
                    if part: targets.add(part.split('::')[0])
            if me != 'lib':
                parent = me.split('::')
                names = [m.group(1) for m in re.finditer(r'super::([a-z_][a-z0-9_]*)', text)]
                for m in re.finditer(r'super::\{([^}]*)\}', text, re.S):
                    names += [part.strip().split('::')[0] for part in m.group(1).split(',') if part.strip()]
                for name in names:
                    if not name[0].islower():
                        tgt = parent[:-1]
                    else:
                        tgt = parent[:-1] + [name] if deep else parent[:1]
                    if tgt: targets.add('::'.join(tgt))
            for t in targets:
                t = t if deep else t.split('::')[0]
                if t != me and t not in ('lib',):
                    graph.setdefault(me, set()).add(t)
    cs = cycles(graph)
    for c in cs:
        bad += 1
        print(f'{crate}: cycle among {", ".join(c)}')
    if not cs: print(f'{crate}: no cycle')
sys.exit(1 if bad else 0)
