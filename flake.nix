{
  description = "wampgres: Effect-native WAMP application components for PostgreSQL database programming";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-utils.url = "github:numtide/flake-utils";
  };

  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachDefaultSystem (system:
      let
        pkgs = import nixpkgs { inherit system; };
        nodejs = pkgs.nodejs_24;
        postgresql = pkgs.postgresql_17;
        # `nix run`: install dependencies on first use, then run the service from the checkout.
        # With PGHOST/DATABASE_URL unset it starts the embedded PostgreSQL from npm; in the dev
        # shell you may point it at the Nix PostgreSQL instead (see README).
        start = pkgs.writeShellApplication {
          name = "wampgres";
          runtimeInputs = [ nodejs postgresql ];
          text = ''
            if [ ! -d node_modules ]; then npm ci; fi
            exec npm start -- "$@"
          '';
        };
      in
      {
        devShells.default = pkgs.mkShell {
          packages = [ nodejs postgresql pkgs.git ];
          shellHook = ''
            echo "wampgres dev shell: node $(node --version), $(postgres --version)"
            echo "npm install && npm start   |   npm test"
          '';
        };

        packages.default = start;

        apps.default = {
          type = "app";
          program = "${start}/bin/wampgres";
        };
      });
}
