import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const secret = 's'.repeat(32);

describe('configuration is checked at start', () => {
  it('production refuses a missing or short JWT_SECRET with a clear message', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET must be set to at least 32 characters/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short' })).toThrow(ConfigError);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).jwt.secretIsGenerated).toBe(false);
  });

  it('development without a secret uses the kept development secret', () => {
    const config = loadConfig({ NODE_ENV: 'development' });
    expect(config.jwt.secretIsGenerated).toBe(true);
    expect(config.jwt.secret.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig({ NODE_ENV: 'development' }).jwt.secret).toBe(config.jwt.secret);
  });

  it('defaults follow the spec and bounds are enforced', () => {
    const config = loadConfig({ JWT_SECRET: secret });
    expect(config.port).toBe(3000);
    expect(config.jwt.clockToleranceS).toBe(5);
    expect(config.limits).toMatchObject({ sendsPerMin: 120, typingPerMin: 60, typingTtlS: 5, depth: 10, aliases: 15, directives: 50, tokens: 2000, cost: 10_000 });
    expect(config.persistedOperations).toBe('allow');
    expect(() => loadConfig({ JWT_SECRET: secret, JWT_CLOCK_TOLERANCE_S: '31' })).toThrow(/between 0 and 30/);
    expect(() => loadConfig({ JWT_SECRET: secret, TYPING_TTL_S: '11' })).toThrow(/TYPING_TTL_S/);
    expect(() => loadConfig({ JWT_SECRET: secret, PERSISTED_OPERATIONS: 'sometimes' })).toThrow(/off, allow or only/);
    expect(() => loadConfig({ JWT_SECRET: secret, DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
  });

  it('FRONTEND_URL* variables accept comma lists and are normalised to origins', () => {
    const config = loadConfig({ JWT_SECRET: secret, FRONTEND_URL: 'https://app.example.com/, https://b.example.com', FRONTEND_URL_FR: 'https://fr.example.com/path' });
    expect(config.frontendOrigins).toEqual(['https://app.example.com', 'https://b.example.com', 'https://fr.example.com']);
  });
});
