// A real OpenID Connect provider for the sign-in browser test: npm `oidc-provider` (installed
// by scripts/ensure-tools into $BEIAN_TOOLS, default /usr/local/lib/beian-tools), with one
// confidential client and its development login/consent pages (any login name is accepted as
// the subject; the test signs in as "dev-zhang"). Started by the test as a separate process:
//   node provider.mjs   with PORT, REDIRECT_URI, CLIENT_ID, CLIENT_SECRET in the environment.
// Prints "listening <issuer>" once it accepts connections.
import { pathToFileURL } from 'node:url';

const tools = process.env.BEIAN_TOOLS || '/usr/local/lib/beian-tools';
const { default: Provider } = await import(
  pathToFileURL(`${tools}/node_modules/oidc-provider/lib/index.js`).href
);

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
  // Name and e-mail in the ID token itself (beian reads the ID token's claims).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['beian-browser-test-only'] },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: '张开发',
          preferred_username: sub,
          email: `${sub}@platform.example`,
          email_verified: true,
        };
      },
    };
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
