# TreeScale node image: `docker build -t treescale .` then
#   docker run -d --name treescale -v /var/run/docker.sock:/var/run/docker.sock \
#     -v treescale-home:/var/lib/treescale -p 7000:7000 -p 7080:7080 \
#     treescale node --name node1 --listen 0.0.0.0:7000 --http 0.0.0.0:7080 --tokens /etc/treescale/tokens
# The node's agent manages the host's containers through the mounted Docker socket.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY controllers controllers
COPY bench bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production TREESCALE_HOME=/var/lib/treescale
WORKDIR /opt/treescale
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY manifests manifests
RUN ln -s /opt/treescale/dist/cli/treescale.js /usr/local/bin/treescale && chmod +x dist/cli/treescale.js
VOLUME /var/lib/treescale
EXPOSE 7000 7080
ENTRYPOINT ["node", "/opt/treescale/dist/cli/treescale.js"]
CMD ["--help"]
