/**
 * Import cycles fail the check (`npm run lint`): a module may not reach itself through its imports,
 * type-only imports included (they couple the two files the same way). Over the server, shared, the
 * web app (Svelte components, .svelte.ts and $lib imports included), models and e2e.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: break it by moving what both sides need into a module below them.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|build|\\.svelte-kit)/|\\.spec\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.svelte', '.json'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    moduleSystems: ['es6'],
  },
};
