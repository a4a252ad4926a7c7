/**
 * The models this server runs: the built-in catalogue (models/) and a studio's own models
 * (LOUPE_MODELS_DIR), each checked at start against what ONNX Runtime reports for the loaded
 * session. A model that does not match its manifest is refused with one clear log line and is not
 * offered in the rooms; everything else keeps working.
 */
import { checkManifest, ensureAllModels, listCatalogue, modelFile, type EnsuredModel, type ModelTask } from '@loupe/models';
import { FixCatalogue, FixIds, type AvailableFix, type AvailableModel } from '@loupe/shared';
import type { Logger } from '../log.js';
import type { InferenceService } from './inference.service.js';

/** The provider of a model not opened at start (manifest openAtStart: false) until its first job. */
const NOT_OPENED = 'not opened yet';
/** The provider of a model on a node that runs no fixes (ROLE=api): the workers open it. */
const ON_WORKERS = 'opened by the fix workers';

export interface RegisteredModel extends EnsuredModel {
  /** Provider the session loaded on when checked. */
  provider: string;
}

export class ModelRegistry {
  private models = new Map<string, RegisteredModel>();
  readonly refused = new Map<string, string>();
  private loading: Promise<void> | null = null;

  constructor(
    private readonly deps: {
      inference: InferenceService;
      extraDirs: string[];
      log: Logger;
      /** List the fixes not offered by default too. */
      offerAll?: boolean;
      /**
       * false on a node that runs no fixes (ROLE=api): the catalogue is read from the manifests, to
       * offer the fixes and check requests, but no model is built, hashed or opened, and no inference
       * process is started. The workers check and open the models.
       */
      opens?: boolean;
    },
  ) {}

  /** Builds what is missing, checks every model; safe to call more than once. */
  load(): Promise<void> {
    this.loading ??= this.doLoad();
    return this.loading;
  }

  private async doLoad() {
    if (this.deps.opens === false) return this.loadCatalogue();
    const { log } = this.deps;
    const started = performance.now();
    let ensured: EnsuredModel[] = [];
    try {
      ensured = await ensureAllModels({
        extraDirs: this.deps.extraDirs,
        log: (line) => log.debug(line),
        onError: (id, e) => this.refuse(id, e.message),
      });
    } catch (e) {
      // A broken studio manifest (bad JSON, taken id) must not stop the built-in models from loading.
      log.error({ err: (e as Error).message }, `model catalogue: ${(e as Error).message}`);
      if (this.deps.extraDirs.length) ensured = await ensureAllModels({ log: (line) => log.debug(line) });
      else throw e;
    }
    for (const model of ensured) {
      if (!model.manifest.openAtStart) {
        // Opened by its first job (the worker catches a provider failure there like anywhere else);
        // built-in ones are checked against their manifest by models/src/tfjs-graph/convert.spec.ts.
        this.models.set(model.manifest.id, { ...model, provider: NOT_OPENED });
        continue;
      }
      try {
        const meta = await this.deps.inference.inspect(model.path);
        const problems = checkManifest(model.manifest, meta.inputs, meta.outputs);
        if (problems.length) {
          this.refuse(model.manifest.id, `${model.path} does not match its manifest: ${problems.join('; ')}`);
          continue;
        }
        this.models.set(model.manifest.id, { ...model, provider: meta.provider });
      } catch (e) {
        this.refuse(model.manifest.id, `${model.path} cannot be loaded: ${(e as Error).message}`);
      }
    }
    log.info(
      { models: [...this.models.keys()], refused: [...this.refused.keys()], ms: Math.round(performance.now() - started) },
      `models ready: ${this.models.size} (${[...this.models.values()].map((m) => (m.provider === NOT_OPENED ? `${m.manifest.id} (opens at its first job)` : `${m.manifest.id} on ${m.provider}`)).join(', ')})`,
    );
  }

  private async loadCatalogue() {
    const { log } = this.deps;
    let entries;
    try {
      entries = await listCatalogue(this.deps.extraDirs);
    } catch (e) {
      log.error({ err: (e as Error).message }, `model catalogue: ${(e as Error).message}`);
      if (!this.deps.extraDirs.length) throw e;
      entries = await listCatalogue();
    }
    for (const { manifest, origin, dir } of entries) {
      this.models.set(manifest.id, { manifest, origin, path: modelFile(manifest, dir), sha256: '', bytes: 0, provider: ON_WORKERS });
    }
    log.info({ models: [...this.models.keys()], opened: 0 }, `models: catalogue of ${this.models.size} read; none opened here (this node runs no fixes: the workers do)`);
  }

  private refuse(id: string, why: string) {
    this.refused.set(id, why);
    this.deps.log.error({ model: id }, `model ${id} refused: ${why}`);
  }

  get(id: string): RegisteredModel | undefined {
    return this.models.get(id);
  }

  byTask(task: ModelTask): RegisteredModel[] {
    return [...this.models.values()].filter((m) => m.manifest.task === task);
  }

  /** The fixes as offered to a room: each with the models it may use now. */
  available(): AvailableFix[] {
    // A fix whose learned model lost to the classical way on the measured fixtures is listed only on request.
    return FixIds.filter((id) => FixCatalogue[id].offered !== false || this.deps.offerAll).map((id) => {
      const fix = FixCatalogue[id];
      const models: AvailableModel[] = this.byTask(fix.task)
        .filter((m) => m.manifest.scale === fix.scale && (m.origin === 'studio' || m.manifest.id === fix.model || fix.alternatives.includes(m.manifest.id)))
        .map((m) => ({
          id: m.manifest.id,
          name: m.manifest.name,
          version: m.manifest.version,
          licence: m.manifest.licence,
          task: fix.task,
          scale: m.manifest.scale,
          origin: m.origin,
          ...(m.manifest.cpuMsPerMegapixel ? { cpuMsPerMegapixel: m.manifest.cpuMsPerMegapixel } : {}),
          // A studio's ONNX model that does not say is a network.
          kind: m.manifest.kind ?? 'learned',
          technique: m.manifest.technique ?? m.manifest.name,
        }));
      return { ...fix, models };
    });
  }
}
