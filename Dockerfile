# TreeScale node image. Build it with scripts/build-node-image.sh: it builds the CLI bundle on the
# host and hands Docker a context holding only what a node loads at run time —
#   package.json, dist/cli/ (the bundle), dist/web/ (the dashboard page), node_modules/ (dockerode
#   and what it requires), manifests/
# — so the image needs no npm and no compiler. The base is a build argument: local/node-base:20
# (scripts/make-node-base.sh: this machine's node, no registry needed), or
# --build-arg BASE=node:20-bookworm-slim where a registry is reachable.
# Run a node that manages the host's containers through the mounted Docker socket:
#   docker run -d --name treescale --network host -v /var/run/docker.sock:/var/run/docker.sock \
#     -v treescale-home:/var/lib/treescale -v /etc/treescale:/etc/treescale:ro \
#     treescale/node:0.1.0 node --name node1 --listen 0.0.0.0:7000 --http 0.0.0.0:7080 --tokens /etc/treescale/tokens
ARG BASE=local/node-base:20
FROM ${BASE}
ENV NODE_ENV=production TREESCALE_HOME=/var/lib/treescale
WORKDIR /opt/treescale
# Least often changed first, so a new bundle rebuilds only the last layer.
RUN ln -s /opt/treescale/dist/cli/treescale.js /usr/local/bin/treescale
COPY package.json ./
COPY node_modules node_modules
COPY manifests manifests
COPY dist/web dist/web
COPY dist/cli dist/cli
VOLUME /var/lib/treescale
EXPOSE 7000 7080
ENTRYPOINT ["node", "/opt/treescale/dist/cli/treescale.js"]
CMD ["--help"]
