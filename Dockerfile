# syntax=docker/dockerfile:1
# Node 26, the Active LTS line since October 2026 (security fixes until April 2029; Node 24 is in
# maintenance, Node 20 past its end of life), on Debian 13 (trixie). The code also runs on Node
# 20.19+ (package.json engines), which is what CI and development machines run.
ARG NODE_IMAGE=node:26-trixie-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
COPY --from=deps /app/src/generated ./src/generated
# Plain JavaScript at run time (dist/): no TypeScript loader in the serving process.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && chown -R node:node /app
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:3000/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "dist/server.js"]
