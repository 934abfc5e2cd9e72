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
    expect(config.webhooks.sweepMs).toBe(5000);
    expect(loadConfig({ JWT_SECRET: secret, WEBHOOK_SWEEP_MS: '600000' }).webhooks.sweepMs).toBe(600_000);
    expect(() => loadConfig({ JWT_SECRET: secret, WEBHOOK_SWEEP_MS: '10' })).toThrow(/WEBHOOK_SWEEP_MS/);
    expect(config.databasePoolIdleTimeoutMs).toBe(0);
    expect(loadConfig({ JWT_SECRET: secret, DATABASE_POOL_IDLE_TIMEOUT_MS: '60000' }).databasePoolIdleTimeoutMs).toBe(60_000);
    expect(() => loadConfig({ JWT_SECRET: secret, DATABASE_POOL_IDLE_TIMEOUT_MS: '-1' })).toThrow(/DATABASE_POOL_IDLE_TIMEOUT_MS/);
    expect(() => loadConfig({ JWT_SECRET: secret, DATABASE_POOL_IDLE_TIMEOUT_MS: '86400001' })).toThrow(/between 0 and 86400000/);
  });

  it('REDIS_CLUSTER_NODES takes host:port or redis:// seeds, and is refused beside REDIS_URL or malformed', () => {
    const config = loadConfig({ JWT_SECRET: secret, REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis://10.0.0.2:7001' });
    expect(config.redisClusterNodes).toEqual(['redis://10.0.0.1:7000', 'redis://10.0.0.2:7001']);
    expect(config.redisUrl).toBeUndefined();
    const withPassword = loadConfig({ JWT_SECRET: secret, REDIS_CLUSTER_NODES: 'rediss://:pw@a.example:7000,rediss://:pw@b.example:7000' });
    expect(withPassword.redisClusterNodes).toEqual(['rediss://:pw@a.example:7000', 'rediss://:pw@b.example:7000']);
    expect(loadConfig({ JWT_SECRET: secret }).redisClusterNodes).toBeUndefined();
    const refused = (REDIS_CLUSTER_NODES: string, extra: Record<string, string> = {}) => () => loadConfig({ JWT_SECRET: secret, REDIS_CLUSTER_NODES, ...extra });
    expect(refused('10.0.0.1:7000', { REDIS_URL: 'redis://10.0.0.1:6379' })).toThrow(/REDIS_URL and REDIS_CLUSTER_NODES are both set/);
    expect(refused('10.0.0.1')).toThrow(/"10.0.0.1" must be host:port/);
    expect(refused('redis://10.0.0.1:7000/2')).toThrow(/no database number/);
    expect(refused('http://10.0.0.1:7000')).toThrow(/must use redis: or rediss:/);
    expect(refused('redis://10.0.0.1:7000,rediss://10.0.0.2:7000')).toThrow(/one scheme .* same credentials/);
    expect(refused('redis://:a@10.0.0.1:7000,redis://:b@10.0.0.2:7000')).toThrow(ConfigError);
  });

  it('FRONTEND_URL* variables accept comma lists and are normalised to origins', () => {
    const config = loadConfig({ JWT_SECRET: secret, FRONTEND_URL: 'https://app.example.com/, https://b.example.com', FRONTEND_URL_FR: 'https://fr.example.com/path' });
    expect(config.frontendOrigins).toEqual(['https://app.example.com', 'https://b.example.com', 'https://fr.example.com']);
  });
});
