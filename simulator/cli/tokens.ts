/** `provisio tokens create|list|revoke`: provisioning tokens. */
import { TOKEN_LIMITS } from "../platform/provisioning-tokens";
import { CliError, durationOption, integerOption, parseArgs, stringOption } from "./args";
import {
  API_OPTIONS,
  API_OPTIONS_HELP,
  ApiClient,
  nextPageHint,
  PAGE_OPTIONS,
  PAGE_OPTIONS_HELP,
  pageQuery,
} from "./api-client";
import { print, table, type Command } from "./command";

const help = `Usage:
  provisio tokens create [--device-id ID] [--lifetime 30d] [--expires 7d] [--max-uses N] [--name TEXT] [--json]
  provisio tokens list [--limit N] [--after CURSOR] [--json]
  provisio tokens revoke TOKEN_ID

create prints only the new token on stdout (all its details with --json). The token is shown
once: the platform keeps only its hash. revoke stops the token from starting operations: its open
provisioning sessions are closed and its CONNECTs refused.
  --device-id ID   device-specific token: the device gets this Device ID
  --lifetime D     lifetime of the registration tokens it leads to (default 30d)
  --expires D      the provisioning token itself expires after D (default never)
  --max-uses N     at most N devices register with it
  --name TEXT      a label for the technician
${PAGE_OPTIONS_HELP}
${API_OPTIONS_HELP}`;

export const tokensCommand: Command = {
  name: "tokens",
  help,
  async run(argv) {
    const args = parseArgs(argv, {
      ...API_OPTIONS,
      ...PAGE_OPTIONS,
      "device-id": "string",
      lifetime: "string",
      expires: "string",
      "max-uses": "string",
      name: "string",
    });
    const [verb, id, ...extra] = args.positionals;
    if (args.options.help) {
      print(help);
      return 0;
    }
    const api = ApiClient.fromArgs(args);
    if (verb === "create" && id === undefined) {
      const created = await api.request("POST", "/api/tokens", {
        deviceId: stringOption(args, "device-id"),
        registrationLifetime: durationOption(args, "lifetime", TOKEN_LIMITS.registrationLifetimeS),
        expiresIn: durationOption(args, "expires", TOKEN_LIMITS.expiresInS),
        maxUses: integerOption(args, "max-uses", 1, TOKEN_LIMITS.maxUses),
        name: stringOption(args, "name"),
      });
      print(args.options.json ? JSON.stringify(created, null, 2) : created.token);
    } else if (verb === "list" && id === undefined) {
      const { tokens, next } = await api.request("GET", `/api/tokens${pageQuery(args)}`);
      print(
        args.options.json
          ? JSON.stringify(tokens, null, 2)
          : table(
              ["ID", "NAME", "TOKEN", "DEVICE ID", "USES", "STATE", "EXPIRES"],
              tokens.map((t: any) => [
                t.id,
                t.name,
                t.hint,
                t.deviceId,
                t.maxUses === null ? t.uses : `${t.uses}/${t.maxUses}`,
                t.state,
                t.expiresAt,
              ]),
            ) + nextPageHint(next, "provisio tokens list"),
      );
    } else if (verb === "revoke" && id !== undefined && extra.length === 0) {
      const revoked = await api.request("POST", `/api/tokens/${encodeURIComponent(id)}/revoke`);
      print(args.options.json ? JSON.stringify(revoked, null, 2) : `revoked ${revoked.id}`);
    } else {
      throw new CliError("usage: provisio tokens create|list|revoke TOKEN_ID (see provisio tokens --help)");
    }
    return 0;
  },
};
