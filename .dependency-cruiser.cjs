/**
 * The plan of the code, enforced (`npm run lint`). Rooms from the bottom up — each may import only rooms below it:
 *
 *   shared (kernel) < providers < storage < cost < batch < producer, worker < library < dashboard < cli
 *
 * and beside them the simulator, which stands in for the providers' APIs and is written from their docs, so it imports
 * nothing from src/providers (a misread API then fails against it). See ARCHITECTURE.md.
 */
const ROOMS = [
  'shared',
  'providers',
  'storage',
  'cost',
  'batch',
  'producer',
  'worker',
  'library',
  'dashboard',
  'cli',
];

/** Rooms `room` may import (those below it; producer and worker are side by side and do not import each other). */
function allowedBelow(room) {
  const index = ROOMS.indexOf(room);
  const below = ROOMS.slice(0, index).filter((other) => !(room === 'worker' && other === 'producer'));
  return below;
}

const layerRules = ROOMS.map((room) => {
  const allowed = [room, ...allowedBelow(room), 'simulator'].filter(
    (other) => !(other === 'simulator' && !['cli'].includes(room)),
  );
  return {
    name: `${room}-imports-only-below`,
    comment: `src/${room} may import only ${allowed.join(', ')} (ARCHITECTURE.md)`,
    severity: 'error',
    from: { path: `^src/${room}/` },
    to: { path: '^src/', pathNot: `^src/(${allowed.join('|')})/` },
  };
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'simulator-independent-of-adapters',
      comment: "The simulator is written from the providers' docs: it imports only src/shared and itself.",
      severity: 'error',
      from: { path: '^src/simulator/' },
      to: { path: '^src/', pathNot: '^src/(simulator|shared)/' },
    },
    {
      name: 'provider-folders-self-contained',
      comment:
        "A provider's folder imports the providers room's common parts and itself, never another provider's folder.",
      severity: 'error',
      from: { path: '^src/providers/([^/]+)/' },
      to: { path: '^src/providers/[^/]+/', pathNot: '^src/providers/$1/' },
    },
    {
      name: 'providers-never-import-queues',
      comment: 'Providers know their wire formats and nothing of queues, Redis or the worker.',
      severity: 'error',
      from: { path: '^src/providers/' },
      to: { path: '^node_modules/(bullmq|ioredis)/' },
    },
    {
      name: 'nothing-imports-cli',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'bullmq-only-in-queue-rooms',
      comment: 'Only the producer, the worker and batch know queues (and the dashboard, for bull-board).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(producer|worker|batch|dashboard)/' },
      to: { path: '^node_modules/bullmq/' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
