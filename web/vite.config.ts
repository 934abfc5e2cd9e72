import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { apiProxy } from './api-proxy.js';

// `npm run web`: the app on http://localhost:5173, the API it talks to at API_URL (default: the
// one `npm start` runs).
const api = apiProxy(process.env.API_URL ?? 'http://localhost:3000');

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  // The typed documents live in ../operations/generated, outside the app's folder.
  server: { port: 5173, proxy: api, fs: { allow: ['..'] } },
  preview: { port: 4173, proxy: api },
  build: { outDir: '../dist/web', emptyOutDir: true },
});
