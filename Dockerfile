# syntax=docker/dockerfile:1
# Build stage: dev dependencies, compile TypeScript to dist/.
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and dist/ only. The test Vault server and tests never enter the image.
FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY proto ./proto
COPY --from=build /src/dist ./dist
# Non-root by default; the DaemonSet runs as root only where the hostPath socket directory needs it (see README).
USER 1000:1000
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["--endpoint=/provider/vault.sock"]
