// A real OpenID Connect provider for Renkei's tests: panva's oidc-provider (the
// certified Node.js implementation), with its development sign-in pages.
//
// It listens on 127.0.0.1 at a port of its own choosing and prints it; then reads
// one line from standard input, the relying party's redirect address, and starts
// answering. Whoever signs in with a login of the form `name` gets the e-mail
// address name@csirt.example and, from the table below, groups and an organization.
import http from 'node:http';
import readline from 'node:readline';
import Provider from 'oidc-provider';

const people = {
  coordinator: { groups: ['csirt-staff'], organization: null },
  admin: { groups: ['csirt-admins', 'csirt-staff'], organization: null },
  vendor: { groups: ['partner-vendors'], organization: 'Example Vendor KK' },
  outsider: { groups: ['marketing'], organization: null },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  console.log(`port ${port}`);
  const rl = readline.createInterface({ input: process.stdin });
  const redirect = await new Promise((resolve) => rl.once('line', resolve));
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: 'renkei',
      client_secret: 'renkei-test-secret',
      redirect_uris: [redirect.trim()],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups', 'organization'],
    },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['renkei-test-cookie-key'] },
    async findAccount(ctx, id) {
      const who = people[id] ?? { groups: [], organization: null };
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: `${id}@csirt.example`,
            email_verified: true,
            name: `Test ${id}`,
            groups: who.groups,
            organization: who.organization,
          };
        },
      };
    },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
  console.log('ready');
});
