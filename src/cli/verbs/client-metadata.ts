/**
 * `mcp-auth client-metadata --url <clientMetadataUrl>`: prints the Client ID Metadata Document to
 * host at that URL, so authorization servers that support CIMD accept mcp-auth without registration.
 */
import { clientMetadataDocument } from '../../oauth/registration.js';
import { usageError } from '../errors.js';
import { noExtra, parse, portFlag } from '../args.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth client-metadata --url https://example.com/mcp-auth.json [--callback-port N] [--redirect-uri URI]... [--client-name NAME]';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, {
    url: { type: 'string' },
    'callback-port': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'client-name': { type: 'string' },
  }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  noExtra(positionals, 0, USAGE);
  if (!values.url) throw usageError('--url is required', `Usage: ${USAGE}`);
  if (!URL.canParse(values.url)) throw usageError('--url must be an absolute https URL', `Usage: ${USAGE}`);
  const port = portFlag(values['callback-port']);
  const doc = clientMetadataDocument({
    clientMetadataUrl: values.url,
    ...(port !== undefined ? { callbackPort: port } : {}),
    ...(values['redirect-uri']?.length ? { redirectUris: values['redirect-uri'] } : {}),
    ...(values['client-name'] ? { clientName: values['client-name'] } : {}),
  });
  io.stdout(JSON.stringify(doc, null, 2) + '\n');
  return 0;
}
