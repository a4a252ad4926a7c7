import { Repository } from './database.js';

/** Cache of full-quality frames extracted from a version's media: (version, frame) -> blob. */
export class FrameRepository extends Repository {
  async get(versionId: string, frame: number): Promise<string | undefined> {
    return (await this.db.selectFrom('frames').select('sha256').where('version_id', '=', versionId).where('frame', '=', frame).executeTakeFirst())?.sha256;
  }

  async put(versionId: string, frame: number, sha256: string): Promise<void> {
    await this.db
      .insertInto('frames')
      .values({ version_id: versionId, frame, sha256 })
      .onConflict((c) => c.columns(['version_id', 'frame']).doUpdateSet({ sha256: (eb) => eb.ref('excluded.sha256') }))
      .execute();
  }
}
