import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import '../styles/common.css';
import '../styles/dashboard.css';
import { Dashboard } from './Dashboard.jsx';

render(<Dashboard />, document.getElementById('app'));
