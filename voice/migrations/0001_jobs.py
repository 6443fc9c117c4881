# The durable state of Celery jobs (voice.models.Job). Needs only crm.Call, hence crm 0001.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('crm', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='Job',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('task', models.CharField(max_length=100, verbose_name='task')),
                ('key', models.CharField(max_length=200, verbose_name='key')),
                ('args', models.JSONField(blank=True, default=list, verbose_name='arguments')),
                ('kwargs', models.JSONField(blank=True, default=dict, verbose_name='keyword arguments')),
                ('status', models.CharField(choices=[('pending', 'pending'), ('running', 'running'), ('done', 'done'), ('failed', 'failed')], default='pending', max_length=8, verbose_name='status')),
                ('attempts', models.PositiveIntegerField(default=0, help_text='Runs started by a worker.', verbose_name='attempts')),
                ('requeues', models.PositiveIntegerField(default=0, help_text='Times the reconciler queued it again because it was stuck.', verbose_name='re-queued')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('result', models.CharField(blank=True, max_length=200, verbose_name='result')),
                ('worker', models.CharField(blank=True, help_text='The Celery node of the last run.', max_length=200, verbose_name='worker')),
                ('host', models.CharField(blank=True, max_length=200, verbose_name='host')),
                ('pid', models.PositiveIntegerField(blank=True, null=True, verbose_name='process id')),
                ('rerun', models.BooleanField(default=False, verbose_name='run again')),
                ('due_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='due')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created')),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='updated')),
                ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='started')),
                ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
                ('call', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='jobs', to='crm.call', verbose_name='call')),
            ],
            options={
                'verbose_name': 'background job',
                'verbose_name_plural': 'background jobs',
                'ordering': ['-created_at'],
                'indexes': [models.Index(fields=['status', 'due_at'], name='voice_job_status_due')],
                'constraints': [models.UniqueConstraint(fields=('task', 'key'), name='voice_job_one_per_task_key')],
            },
        ),
    ]
