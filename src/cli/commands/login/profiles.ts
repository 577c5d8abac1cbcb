import type { Profile } from '../../context.js';
import { configDir } from '../../context.js';

/** Profiles live in DIR/config.json (mode 0600), written through conf. */
export async function openProfiles(env: NodeJS.ProcessEnv): Promise<{ get(name: string): Profile | undefined; set(name: string, p: Profile): void; delete(name: string): boolean; path: string }> {
  const { default: Conf } = await import('conf');
  const conf = new Conf<{ profiles: Record<string, Profile> }>({
    projectName: 'relay',
    projectSuffix: '',
    configName: 'config',
    cwd: await configDir(env),
    configFileMode: 0o600,
    defaults: { profiles: {} },
  });
  return {
    path: conf.path,
    get: (name) => conf.get('profiles')[name],
    set: (name, profile) => conf.set('profiles', { ...conf.get('profiles'), [name]: profile }),
    delete: (name) => {
      const profiles = { ...conf.get('profiles') };
      if (!(name in profiles)) return false;
      delete profiles[name];
      conf.set('profiles', profiles);
      return true;
    },
  };
}
