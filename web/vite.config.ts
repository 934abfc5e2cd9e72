import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { withEnvFile } from '../src/env-file.js';
import { apiProxy } from './api-proxy.js';

// `npm run web`: the app on http://localhost:5173, the API it talks to at API_URL (from the
// environment, else the project's .env, else the one `npm start` runs).
const env = withEnvFile(process.env);
const api = apiProxy(env.API_URL || 'http://localhost:3000');

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  // The typed documents live in ../operations/generated, outside the app's folder. strictPort:
  // a busy 5173 is an error, not another port that FRONTEND_URL does not list.
  server: { port: 5173, strictPort: true, proxy: api, fs: { allow: ['..'] } },
  preview: { port: 4173, strictPort: true, proxy: api },
  build: { outDir: '../dist/web', emptyOutDir: true },
});
