/** jwks: the public signing keys, for verifiers to check tokens with. */
import { http } from '@google-cloud/functions-framework';
import { jwksFunction } from '../../shared/signing/jwksFunction';

http('jwks', jwksFunction());
