/** exchangeIntegration: an integration API key for a 20-second JWT (aud `integration`). */
import { http } from '@google-cloud/functions-framework';
import { exchangeFunction } from '../../shared/exchange/wiring';

http('exchangeIntegration', exchangeFunction('exchangeIntegration', 'integration'));
